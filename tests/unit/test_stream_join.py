"""Stream-stream windowed joins, run with the TestDriver: what is joined, and when.

The known-answer tables are Kafka Streams' (its wiki page "Kafka Streams Join Semantics",
improved left/outer joins of 3.1+): the same input, the same results. Where a result comes out
differs for unmatched ones only: kstreamy's watermark is the minimum over both inputs, so an
unmatched result waits until both inputs have passed its window (Kafka Streams: either input).
"""

from __future__ import annotations

import logging

import pytest

from kstreamy import App
from kstreamy.runtime.late_records import LATE_HEADER_PREFIX
from kstreamy.state.window_store import WindowStore
from kstreamy.testing import TestDriver
from kstreamy.windows import JoinWindows


def _join(how: str, window: JoinWindows, app_id: str = "j", late_topic: str | None = None):
    app = App(app_id)
    left = app.stream("left", key_serde="str", value_serde="str")
    right = app.stream("right", key_serde="str", value_serde="str")
    left.join(
        right,
        lambda a, b: f"{a}-{b}",
        how,
        name="j",
        window=window,
        late_topic=late_topic,
    ).to("out")
    return app, TestDriver(app)


def _tick(driver: TestDriver, ts: float) -> None:
    """Move both inputs (so the watermark) to ``ts`` with records that join nothing."""
    driver.pipe("left", "_tick-left", "t", timestamp=ts)
    driver.pipe("right", "_tick-right", "t", timestamp=ts)


def _results(driver: TestDriver) -> list[tuple[str, str, float]]:
    """(key, value, time) of the output, without the ticks' own unmatched results."""
    return [
        (r.key, r.value, r.timestamp)
        for r in driver.records("out")
        if not r.key.startswith("_tick")
    ]


# Kafka Streams' example: one key, all records in one window of 15 s; None values are dropped.
# (time s, side, value, results inner, results left/outer where they differ from inner)
KAFKA_STREAMS_TABLE = [
    (1, "left", None, [], None, None),
    (2, "right", None, [], None, None),
    (3, "left", "A", [], None, None),
    (4, "right", "a", ["A-a"], None, None),
    (5, "left", "B", ["B-a"], None, None),
    (6, "right", "b", ["A-b", "B-b"], None, None),
    (7, "left", None, [], None, None),
    (8, "right", None, [], None, None),
    (9, "left", "C", ["C-a", "C-b"], None, None),
    (10, "right", "c", ["A-c", "B-c", "C-c"], None, None),
    (11, "right", None, [], None, None),
    (12, "left", None, [], None, None),
    (13, "right", None, [], None, None),
    (14, "right", "d", ["A-d", "B-d", "C-d"], None, None),
    (15, "left", "D", ["D-a", "D-b", "D-c", "D-d"], None, None),
    (40, "left", "E", [], None, None),
    (60, "left", "F", [], None, None),
    # Kafka Streams emits E-None on F (its stream time is 60); here the right input is at 14
    # until f arrives, so the watermark reaches 60 only now.
    (80, "right", "f", [], ["E-None"], ["E-None"]),
    (100, "left", "G", [], ["F-None"], ["F-None"]),
    # f closes at 80 + 15 + 1: Kafka Streams emits None-f on G; here once the right input
    # passes 96 too.
    (100, "right", "g", ["G-g"], ["G-g"], ["G-g", "None-f"]),
]


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_kafka_streams_known_answers(how):
    _, driver = _join(how, JoinWindows.of(15))
    for ts, side, value, inner, left, outer in KAFKA_STREAMS_TABLE:
        driver.pipe(side, "k", value, timestamp=ts)
        expected = {"inner": inner, "left": left, "outer": outer}[how]
        got = [v for _, v in driver.read("out")]
        assert got == (inner if expected is None else expected), (ts, side, value)


def test_results_carry_the_later_time_of_the_pair_and_the_key():
    _, driver = _join("inner", JoinWindows.of(10))
    driver.pipe("right", "k", "r", timestamp=7.5)
    driver.pipe("left", "k", "l", timestamp=3.0)
    driver.pipe("left", "other-key", "x", timestamp=7.5)
    [record] = driver.records("out")
    assert (record.key, record.value, record.timestamp) == ("k", "l-r", 7.5)


def test_asymmetric_windows_look_only_where_they_are_told():
    # Right records may be at most 0 s before and 5 s after a left record.
    _, driver = _join("inner", JoinWindows(before=0, after=5, grace=100))
    driver.pipe("left", "k", "L", timestamp=10)
    for ts in (9.999, 10, 15, 15.001):
        driver.pipe("right", "k", f"r{ts}", timestamp=ts)
    assert [v for _, v in driver.read("out")] == ["L-r10", "L-r15"]
    # The mirror: a right record looks back 5 s and forward 0 s for left records.
    for ts in (4.999, 5, 10, 10.001):
        driver.pipe("left", "k2", f"l{ts}", timestamp=ts)
    driver.pipe("right", "k2", "R", timestamp=10)
    assert [v for _, v in driver.read("out")] == ["l5-R", "l10-R"]


def test_a_negative_boundary_joins_only_records_at_a_distance():
    # Right records 5 to 10 s after the left one; a left record arriving after its window
    # closed gets its unmatched result at once, or joins what is still there.
    _, driver = _join("left", JoinWindows(before=-5, after=10))
    driver.pipe("left", "k", "L", timestamp=0)
    for ts in (4.999, 5, 10, 10.001):
        driver.pipe("right", "k", f"r{ts}", timestamp=ts)
    assert [v for _, v in driver.read("out")] == ["L-r5", "L-r10"]
    driver.pipe("left", "k", "M", timestamp=10.001)  # window [15.001, 20.001]
    driver.pipe("right", "k", "s", timestamp=16)
    assert [v for _, v in driver.read("out")] == ["M-s"]


def test_a_left_join_emits_unmatched_records_once_and_only_when_their_window_closed():
    _, driver = _join("left", JoinWindows.of(5, grace=2))
    driver.pipe("left", "k", "A", timestamp=10)
    _tick(driver, 17)
    # Watermark 17: A's window [5, 15] plus grace 2 is open while a right record at 15 may
    # still come (17 - 2 = 15 is not late).
    assert driver.watermarks() == {"0_0": 17.0}
    assert _results(driver) == []
    driver.pipe("right", "k", "late-by-one", timestamp=14.999)
    assert _results(driver) == []  # behind the watermark past grace: late, not joined
    driver.pipe("right", "k", "a", timestamp=15)
    assert _results(driver) == [("k", "A-a", 15.0)]
    driver.pipe("left", "k", "B", timestamp=20.001)  # a at 15 is 5.001 s before: no match
    _tick(driver, 27.001)
    # A joined, so it never comes out unmatched; B closes at 20.001 + 5 + grace 2, plus 1 ms.
    assert _results(driver) == []
    _tick(driver, 27.002)
    assert _results(driver) == [("k", "B-None", 20.001)]
    _tick(driver, 100)
    assert _results(driver) == []
    assert driver.metrics.late_records_dropped == 1


def test_an_outer_join_emits_both_sides_unmatched_in_time_order():
    _, driver = _join("outer", JoinWindows.of(1))
    driver.pipe("right", "k1", "r", timestamp=3)
    driver.pipe("left", "k2", "l", timestamp=2)
    driver.pipe("left", "k3", "m", timestamp=4)
    driver.pipe("left", "k1", "n", timestamp=4.5)  # 1.5 s after r: no match
    assert _results(driver) == []  # the watermark is 3: nothing closed
    _tick(driver, 10)
    assert _results(driver) == [
        ("k2", "l-None", 2.0),
        ("k1", "None-r", 3.0),
        ("k3", "m-None", 4.0),
        ("k1", "n-None", 4.5),
    ]


def test_duplicates_of_a_key_and_time_all_join_and_all_come_out_unmatched():
    _, driver = _join("outer", JoinWindows.of(0))
    driver.pipe("left", "k", "A1", timestamp=1)
    driver.pipe("left", "k", "A2", timestamp=1)
    driver.pipe("right", "k", "a", timestamp=1)
    assert [v for _, v, _ in _results(driver)] == ["A1-a", "A2-a"]
    driver.pipe("right", "j", "b1", timestamp=2)
    driver.pipe("right", "j", "b2", timestamp=2)
    _tick(driver, 5)
    assert [v for _, v, _ in _results(driver)] == ["None-b1", "None-b2"]


def test_out_of_order_records_within_grace_join_from_either_side():
    _, driver = _join("inner", JoinWindows.of(1, grace=10))
    driver.pipe("left", "k", "L20", timestamp=20)
    driver.pipe("right", "k", "R30", timestamp=30)
    driver.pipe("left", "k", "L29", timestamp=29)
    driver.pipe("right", "k", "R19", timestamp=19)  # watermark 29: 19 >= 29 - 10
    assert [v for _, v in driver.read("out")] == ["L29-R30", "L20-R19"]


def test_late_records_go_to_the_late_topic_with_their_window():
    _, driver = _join("inner", JoinWindows.of(2), late_topic="late")
    driver.pipe("left", "k", "a", timestamp=10)
    driver.pipe("right", "k", "b", timestamp=10)
    driver.pipe("right", "k", "old", timestamp=7)
    [late] = driver.records("late")
    headers = {name.removeprefix(LATE_HEADER_PREFIX): v.decode() for name, v in late.headers}
    assert late.raw_value == b"old"
    assert headers["window_start_ms"] == "5000"  # a right record at 7 s looks at [5, 9]
    assert headers["window_end_ms"] == "9001"
    assert headers["watermark_ms"] == "10000"
    assert headers["step"] == "j-other-join"
    assert driver.metrics.late_records_routed == 1


def test_records_without_key_or_value_are_dropped_with_a_counted_warning(caplog):
    _, driver = _join("outer", JoinWindows.of(5))
    with caplog.at_level(logging.WARNING):
        driver.pipe("left", None, "v", timestamp=1)
        driver.pipe("left", "k", None, timestamp=1)
        driver.pipe("right", "k", None, timestamp=1)
    driver.pipe("left", "z", "end", timestamp=100)
    driver.pipe("right", "z", "end", timestamp=100)
    assert driver.read("out") == [("z", "end-end")]
    messages = [r.getMessage() for r in caplog.records]
    assert any("j-this-join: dropped 1 record(s) with a null key or value" in m for m in messages)
    assert any("j-other-join: dropped 1 record(s) with a null key or value" in m for m in messages)


def test_closed_windows_leave_the_stores():
    _, driver = _join("left", JoinWindows.of(5, grace=1))
    for ts in (1, 2, 3):
        driver.pipe("left", "k", "v", timestamp=ts)
        driver.pipe("right", "q", "v", timestamp=ts)

    def times(store: str, key: str) -> list[int]:
        # Entries are the records' join windows: start = time - 5 s.
        windows = WindowStore(driver.store(store)._txn, 10001)
        return [start + 5000 for start, _, _ in windows.fetch(key.encode(), -(10**9), 10**9)]

    assert times("j-this", "k") == [1000, 2000, 3000]
    assert times("j-other", "q") == [1000, 2000, 3000]
    # A record at 3 s is kept until the watermark passes 3 + 5 + grace 1.
    _tick(driver, 9)
    assert times("j-this", "k") == [3000] and times("j-other", "q") == [3000]
    _tick(driver, 9.001)
    assert times("j-this", "k") == [] and times("j-other", "q") == []
    assert [v for k, v, _ in _results(driver)] == ["v-None"] * 3


def test_a_self_join_pairs_each_record_with_itself_and_its_neighbours():
    app = App("self")
    events = app.stream("events", key_serde="str", value_serde="str")
    events.join(events, lambda a, b: a + b, name="self", window=JoinWindows.of(1)).to("out")
    driver = TestDriver(app)
    driver.pipe("events", "k", "a", timestamp=1)
    driver.pipe("events", "k", "b", timestamp=1.5)
    assert sorted(v for _, v in driver.read("out")) == ["aa", "ab", "ba", "bb"]


def test_a_join_after_a_key_change_repartitions_and_still_joins():
    app = App("rekey")
    left = app.stream("left", key_serde="str", value_serde="json")
    right = app.stream("right", key_serde="str", value_serde="json")
    by_user = left.map(lambda k, v: (v["user"], v))
    by_user.join(right, lambda a, b: {**a, **b}, name="j", window=JoinWindows.of(5)).to(
        "out", value_serde="json"
    )
    driver = TestDriver(app)
    driver.pipe("right", "u1", {"name": "Ada"}, timestamp=10)
    driver.pipe("left", "order-7", {"user": "u1", "order": 7}, timestamp=12)
    assert driver.read("out") == [("u1", {"name": "Ada", "user": "u1", "order": 7})]


def test_a_moved_task_neither_repeats_nor_loses_unmatched_results():
    _, before = _join("left", JoinWindows.of(5))
    before.pipe("left", "k1", "A", timestamp=10)
    before.pipe("left", "k2", "B", timestamp=30)
    before.pipe("left", "k5", "E", timestamp=31)
    before.pipe("right", "k9", "x", timestamp=30)
    assert _results(before) == [("k1", "A-None", 10.0)]  # the watermark is 30

    # Another instance takes the task over: its stores are restored from the changelogs
    # (here: copied byte for byte), and its clock starts from nothing.
    _, after = _join("left", JoinWindows.of(5))
    for store in ("j-this", "j-other"):
        target = after.store(store)._txn
        for raw_key, raw_value in before.store(store)._txn.items():
            target.put(raw_key, raw_value)
    after.pipe("left", "k3", "C", timestamp=20)  # late before the move, late after it
    after.pipe("right", "k2", "b", timestamp=33)
    assert _results(after) == [("k2", "B-b", 33.0)]
    _tick(after, 50)
    assert _results(after) == [("k5", "E-None", 31.0)]
    assert after.metrics.late_records_dropped == 1


def test_a_quiet_input_holds_unmatched_results_back_until_it_is_idle():
    app = App("idle")
    left = app.stream("left", key_serde="str", value_serde="str")
    right = app.stream("right", key_serde="str", value_serde="str", idle_timeout=30.0)
    left.left_join(right, lambda a, b: f"{a}-{b}", name="j", window=JoinWindows.of(5)).to("out")
    driver = TestDriver(app, wall_clock=1000.0)
    driver.pipe("left", "k", "A", timestamp=10)
    driver.pipe("left", "k2", "B", timestamp=20)
    assert driver.read("out") == []  # no watermark while the right input has said nothing
    driver.advance_wall_clock(31)
    assert driver.watermarks() == {"0_0": 20.0}
    assert driver.read("out") == [("k", "A-None")]
