"""Session windows: merging, deletions of merged sessions, closing and lateness."""

from __future__ import annotations

from kstreamy.state import InMemoryStore
from kstreamy.windows import Session, Windowed
from tests_support.windowing import Harness


def test_kafka_streams_example_merges_two_sessions() -> None:
    # SessionWindows documentation: gap 5; records at 10, 12, 20, then 16 bridges both.
    h = Harness(Session(0.005, grace=0.01))
    for ts, value in ((10, 1), (12, 2), (20, 3), (16, 4)):
        h.send("A", ts, value)
    h.commit()
    assert [(o.window, o.value) for o in h.outputs] == [
        (Windowed.from_ms("A", 10, 10), [1]),
        (Windowed.from_ms("A", 10, 10), None),
        (Windowed.from_ms("A", 10, 12), [1, 2]),
        (Windowed.from_ms("A", 20, 20), [3]),
        (Windowed.from_ms("A", 10, 12), None),
        (Windowed.from_ms("A", 20, 20), None),
        (Windowed.from_ms("A", 10, 20), [1, 2, 3, 4]),
    ]
    assert h.latest() == {("A", 10, 20): [1, 2, 3, 4]}


def test_final_mode_emits_merged_sessions_once_after_gap_and_grace() -> None:
    h = Harness(Session(0.005, grace=0.01), emit_final=True)
    for ts, value in ((10, 1), (12, 2), (20, 3), (16, 4)):
        h.send("A", ts, value)
    h.send("B", 35, 5)  # watermark 35: closes at 20 + 5 + 10 + 1 = 36
    h.commit()
    assert h.outputs == []
    h.send("B", 36, 6)
    h.commit()
    assert [(o.window, o.value, o.ts_ms, o.watermark) for o in h.outputs] == [
        (Windowed.from_ms("A", 10, 20), [1, 2, 3, 4], 20, 36)
    ]
    h.close_all()
    assert h.finals() == {("A", 10, 20): [1, 2, 3, 4], ("B", 35, 36): [5, 6]}


def test_a_record_inside_an_open_session_keeps_its_bounds() -> None:
    h = Harness(Session(0.01))
    h.send("A", 10, 1)
    h.send("A", 20, 2)
    h.send("A", 15, 3)
    h.commit()
    assert [(o.window, o.value) for o in h.outputs][-1:] == [
        (Windowed.from_ms("A", 10, 20), [1, 2, 3])
    ]
    assert [o.value for o in h.outputs].count(None) == 1  # only [10, 10] was merged away


def test_closed_sessions_are_final() -> None:
    h = Harness(Session(0.005), emit_final=True)
    for ts, value in ((10, 1), (12, 2), (20, 3)):
        h.send("A", ts, value)
    h.commit()
    assert h.finals() == {("A", 10, 12): [1, 2]}  # closed at 12 + 5 + 1 = 18
    h.send("A", 16, 4)  # within the gap of both; joins only the open one
    h.send("A", 10, 5)  # only near the closed session: its own session [10, 10] is closed
    h.send("A", 11, 6)  # within the gap of [16, 20]: joins it (like 16 did)
    h.close_all()
    assert h.finals() == {("A", 10, 12): [1, 2], ("A", 11, 20): [3, 4, 6]}
    assert [(x.value, x.window) for x in h.late] == [(5, Windowed.from_ms("A", 10, 10))]


def test_retained_closed_sessions_are_not_merged() -> None:
    h = Harness(Session(0.005), emit_final=True, retention_ms=100)
    for ts, value in ((10, 1), (12, 2), (20, 3), (16, 4)):
        h.send("A", ts, value)
    h.close_all()
    assert h.finals() == {("A", 10, 12): [1, 2], ("A", 16, 20): [3, 4]}


def test_a_session_is_closed_exactly_at_its_close_time() -> None:
    h = Harness(Session(0.005), emit_final=True, retention_ms=100)
    h.send("A", 10, 0)
    h.send("B", 16, 1)  # watermark 16 = 10 + 5 + 1: [10, 10] closes (and is retained)
    h.send("A", 15, 2)  # within the gap of the closed session: a new session
    h.close_all()
    assert h.finals() == {("A", 10, 10): [0], ("A", 15, 15): [2], ("B", 16, 16): [1]}
    assert h.late == []


def test_restart_with_an_older_watermark_keeps_sessions_closed() -> None:
    store = InMemoryStore("sessions")
    first = Harness(Session(0.005), emit_final=True, store=store)
    first.send("A", 10, 1)
    first.send("A", 30, 2)
    first.commit()
    assert first.finals() == {("A", 10, 10): [1]}
    second = Harness(Session(0.005), emit_final=True, store=store)
    second.send("A", 12, 3)  # would have joined [10, 10], which closed before the restart
    second.close_all()
    assert [x.value for x in second.late] == [3]
    assert second.finals() == {("A", 30, 30): [2]}
