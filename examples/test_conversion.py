import random

from conversion import MAX_OUT_OF_ORDERNESS, WINDOW, build_app, hour_of

from kstreamy.testing import TestDriver
from kstreamy.windows import Windowed
from tests_support.conversion_reference import expected_hours

HOUR = 1699999200  # 2023-11-14T22:00Z


def run(events: list[tuple[str, str, int]]) -> dict:
    """Pipe the events, then one far later to close every hour; hour start -> result."""
    driver = TestDriver(build_app())
    end = max(ts for _, _, ts in events)
    for user, kind, ts in [*events, ("closer", "view", end + 3 * 3600)]:
        driver.pipe("shop-events", user, {"type": kind, "ts": ts})
    results = {}
    for window, value in driver.read("conversions-hourly"):
        assert window == Windowed(hour_of(window.start), window.start, window.start + 3600)
        assert window.start not in results  # one final result per hour
        results[window.start] = value
    assert driver.records("late-conversions") == []
    return results


def test_a_conversion_counts_in_the_hour_of_its_view():
    events = [
        ("u1", "purchase", HOUR + 3630),  # 23:00:30, read before its view: out of order
        ("u1", "view", HOUR + 3570),  # 22:59:30, converted by the purchase in the next hour
        ("u2", "view", HOUR + 600),  # no purchase
        ("u3", "view", HOUR + 1200),
        ("u3", "purchase", HOUR + 1200 + 35 * 60),  # 35 minutes later: too late
        ("u4", "purchase", HOUR + 300),  # before the view: does not count
        ("u4", "view", HOUR + 360),
        ("u5", "view", HOUR + 3000),
        ("u5", "view", HOUR + 3060),
        ("u5", "purchase", HOUR + 3100),  # converts both views of u5
        ("u6", "click", HOUR + 3100),  # neither a view nor a purchase: ignored
    ]
    assert run(events) == {HOUR: {"views": 6, "conversions": 3}}
    assert run(events) == expected_hours(events)


def sample_events(seed: int = 5) -> list[tuple[str, str, int]]:
    """About 20 users over four hours; half the views are followed by a purchase 0 to 45
    minutes later, so some convert, some do not, and some pairs cross an hour."""
    rng = random.Random(seed)
    events = []
    for n in range(20):
        user = f"user-{n}"
        for _ in range(rng.randint(1, 6)):
            view = HOUR + rng.randint(0, 4 * 3600)
            events.append((user, "view", view))
            if rng.random() < 0.5:
                events.append((user, "purchase", view + rng.randint(0, 45 * 60)))
    return sorted(events, key=lambda e: e[2])


def test_hourly_conversions_do_not_depend_on_arrival_order():
    events = sample_events()
    expected = expected_hours(events)
    assert len(expected) >= 4
    assert sum(hour["conversions"] for hour in expected.values()) >= 10
    crossing = [
        (a, b)
        for u, k, a in events
        for v, j, b in events
        if (u, k, j) == (v, "view", "purchase") and a <= b <= a + WINDOW and a // 3600 != b // 3600
    ]
    assert crossing  # some conversions cross an hour boundary
    assert run(events) == expected
    for seed in range(4):
        rng = random.Random(seed)
        shuffled = sorted(events, key=lambda e: e[2] + rng.uniform(0, MAX_OUT_OF_ORDERNESS))
        assert shuffled != events
        assert run(shuffled) == expected
