"""What the conversion example must output, computed from scratch from its events.

Shared by its test-driver test and its broker test. Events are ``(user, kind, ts)`` with kind
"view" or "purchase"; the window is defined here again, not taken from the example, so that the
reference stays independent of the code it checks.
"""

from __future__ import annotations

from collections import defaultdict

Event = tuple[str, str, int]
WINDOW = 1800  # a purchase within 30 minutes of a view converts it


def expected_hours(events: list[Event]) -> dict[int, dict[str, int]]:
    """hour start (s) -> {"views", "conversions"}, from the definition: a view at ``a``
    converts when its user purchases at ``b`` with ``a <= b <= a + WINDOW`` (even in the next
    hour); it counts in the hour of ``a``."""
    purchases = defaultdict(list)
    for user, kind, ts in events:
        if kind == "purchase":
            purchases[user].append(ts)
    hours: dict = defaultdict(lambda: {"views": 0, "conversions": 0})
    for user, kind, ts in events:
        if kind == "view":
            hour = hours[ts // 3600 * 3600]
            hour["views"] += 1
            hour["conversions"] += any(ts <= b <= ts + WINDOW for b in purchases[user])
    return dict(hours)
