"""Hourly conversion: how many product views were followed by a purchase, per hour.

Input: ``shop-events`` (key: user id, value: JSON ``{"type": "view" | "purchase", "ts": <epoch
seconds>}``; other types are ignored). Output: ``conversions-hourly``, one final record per hour
(key in ``windowed-json``: ``{"key": "2023-11-14T22:00Z", "start", "end", ...}``, value
``{"views": 12, "conversions": 5}``; ``kstreamy topics tail`` prints the key as
``[hour, start_ms, end_ms]``).

Definition, on event time (``ts``):

- A view by user U at time ``a`` **converts** when U has a purchase at a time ``b`` with
  ``a <= b <= a + 30 min`` (``WINDOW``). Each view counts at most once, however many purchases
  follow it; a purchase may convert several views.
- ``views`` of an hour is the number of views with ``a`` in ``[hour, hour + 1 h)``;
  ``conversions`` is how many of them convert. A conversion counts in the hour of its **view**,
  even when the purchase falls into the next hour.
- Events may arrive out of order, up to ``MAX_OUT_OF_ORDERNESS`` (2 minutes) behind the newest
  event of their partition: the result is the same as in time order.

How: a process step keeps each user's pending views and recent purchases (keyed state) and sets
an event-time timer at ``a + WINDOW`` per view. When the watermark passes it, every purchase
that could convert the view has arrived, so the view is decided and sent on, with the view's
time as its timestamp, keyed by its hour. A tumbling one-hour window then counts views and
conversions per hour. Its grace is ``WINDOW``: the last views of an hour are decided up to
``WINDOW`` after the hour ends, so an hour's result comes out once the watermark passes
``hour + 1 h + WINDOW``.

Events later than ``MAX_OUT_OF_ORDERNESS`` may be missed: a late purchase cannot convert a view
already decided, and a view decided after its hour closed is written to ``late-conversions``
(as its decision, ``{"user", "converted"}`` keyed by the hour) instead of being counted.

    kstreamy topics create shop-events conversions-hourly late-conversions --partitions 4
    kstreamy run examples.conversion:app
    printf '%b\\n' 'ann\\t{"type": "view", "ts": 1700002700}' \\
        'ann\\t{"type": "purchase", "ts": 1700003000}' 'cy\\t{"type": "view", "ts": 1700001000}' \\
        | kstreamy topics produce shop-events --app examples.conversion:app
    for user in ann cy gus kim; do  # one user per partition: later events close the hour
        printf '%s\\t{"type": "view", "ts": 1700008800}\\n' $user
    done | kstreamy topics produce shop-events --app examples.conversion:app
    kstreamy topics tail conversions-hourly --app examples.conversion:app

The hourly windows' watermark is the lowest over all input partitions, so an hour comes out
once every partition has events past it (or has had none for ``IDLE_TIMEOUT``, 60 s, while
others move on). Above, the views at 00:40 close the hour 22:00: two views, one conversion
(ann's purchase at 23:03 converts her view at 22:58; cy did not buy).
"""

from __future__ import annotations

import time
from typing import Any

from kstreamy import App, ProcessFunction, ProcessorContext
from kstreamy.windows import Tumbling

WINDOW = 30 * 60.0
"""Seconds after a view in which a purchase by the same user converts it."""
MAX_OUT_OF_ORDERNESS = 120.0
"""Seconds an event may trail the newest one of its partition and still count."""
IDLE_TIMEOUT = 60.0
"""Seconds without events after which a partition stops holding the hourly results back."""
HOUR = 3600.0
WINDOW_MS = round(WINDOW * 1000)


def event_time(key: Any, value: dict[str, Any], record_ts: float) -> float:
    """The time of the view or purchase, not the time Kafka received it."""
    return float(value["ts"])


def hour_of(ts: float) -> str:
    """The UTC hour a time falls into, as ``2023-11-14T22:00Z``."""
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(ts // HOUR * HOUR))


class DecideViews(ProcessFunction):
    """Per user: decide each view once no purchase that could convert it can still arrive.

    State (store ``funnel``): the user's undecided view times and the purchase times an
    undecided view may still need, in ms (integers, so comparisons are exact). A view at ``a``
    is decided by its timer at ``a + WINDOW``; a purchase at ``b`` is dropped at its timer,
    ``b + WINDOW``, when every view it could convert (``b - WINDOW <= a <= b``) is decided.
    """

    def process(self, key: str, value: dict[str, Any], ctx: ProcessorContext) -> None:
        kind = value.get("type")
        if kind not in ("view", "purchase"):
            return
        ts_ms = round(ctx.timestamp * 1000)
        ctx.list_state("funnel", kind).add(ts_ms)
        ctx.timers.register_event_time((ts_ms + WINDOW_MS) / 1000)

    def on_timer(self, timestamp: float, ctx: ProcessorContext) -> None:
        now_ms = round(timestamp * 1000)
        views = ctx.list_state("funnel", "view")
        purchases = ctx.list_state("funnel", "purchase")
        bought = purchases.get()
        pending = []
        for a in views.get():
            if a + WINDOW_MS > now_ms:
                pending.append(a)
                continue
            converted = any(a <= b <= a + WINDOW_MS for b in bought)
            ctx.emit(hour_of(a / 1000), {"user": ctx.key, "converted": converted}, a / 1000)
        views.update(pending)
        purchases.update([b for b in bought if b + WINDOW_MS > now_ms])


def count(key: str, decision: dict[str, Any], acc: dict[str, int]) -> dict[str, int]:
    """One more view of the hour, and one more conversion if it converted."""
    return {
        "views": acc["views"] + 1,
        "conversions": acc["conversions"] + int(decision["converted"]),
    }


def build_app(suffix: str = "", **settings: Any) -> App:
    """The application; ``suffix`` goes after its id and topic names, so that several copies
    (a staging run, a test) can share one broker."""
    app = App(f"conversion{suffix}", **settings)
    (
        app.stream(
            f"shop-events{suffix}",
            key_serde="str",
            value_serde="json",
            timestamp=event_time,
            max_out_of_orderness=MAX_OUT_OF_ORDERNESS,
            idle_timeout=IDLE_TIMEOUT,
        )
        .process(DecideViews(), stores=["funnel"], name="decide-views")
        .group_by_key(name="by-hour", key_serde="str", value_serde="json")
        .window(Tumbling(HOUR, grace=WINDOW), late_topic=f"late-conversions{suffix}")
        .aggregate(lambda: {"views": 0, "conversions": 0}, count, store="hourly")
        .emit_final()
        .to(f"conversions-hourly{suffix}", key_serde="windowed-json", value_serde="json")
    )
    return app


app = build_app()
