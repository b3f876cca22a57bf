"""Sliding windows: Kafka Streams' documented example, lateness and copy sources."""

from __future__ import annotations

from kstreamy.state import InMemoryStore
from kstreamy.windows import Sliding, Windowed
from tests_support.windowing import Harness

# The SlidingWindows example of the Kafka Streams documentation: time difference 5000 ms.
KS_EXAMPLE = {
    ("A", 3000, 8000): [1],
    ("A", 4200, 9200): [1, 2],
    ("A", 7400, 12400): [1, 2, 3],
    ("A", 8001, 13001): [2, 3],
    ("A", 9201, 14201): [3],
}


def test_kafka_streams_example_final() -> None:
    h = Harness(Sliding(5.0), emit_final=True)
    for ts, value in ((8000, 1), (9200, 2), (12400, 3)):
        h.send("A", ts, value)
    h.close_all()
    assert h.finals() == KS_EXAMPLE
    assert h.late == []
    # Final results carry the window's (inclusive) end as timestamp.
    assert {(o.window.end_ms, o.ts_ms) for o in h.outputs} == {(e, e) for _, _, e in KS_EXAMPLE}


def test_kafka_streams_example_updates() -> None:
    h = Harness(Sliding(5.0))
    for ts, value in ((8000, 1), (9200, 2), (12400, 3)):
        h.send("A", ts, value)
    h.commit()
    assert [(o.window.start_ms, o.value) for o in h.outputs] == [
        (3000, [1]),
        (8001, [2]),  # right window of 8000, created by 9200
        (4200, [1, 2]),  # left window of 9200, copied from [3000, 8000]
        (8001, [2, 3]),
        (9201, [3]),
        (7400, [1, 2, 3]),  # left window of 12400, copied from [4200, 9200]
    ]
    assert h.latest() == KS_EXAMPLE


def test_out_of_order_arrival_gives_the_same_windows() -> None:
    h = Harness(Sliding(5.0, grace=10.0), emit_final=True)
    for ts, value in ((12400, 3), (8000, 1), (9200, 2)):
        h.send("A", ts, value)
    h.close_all()
    assert h.finals() == KS_EXAMPLE


def test_inclusive_bounds() -> None:
    h = Harness(Sliding(0.01), emit_final=True)
    h.send("k", 100, "a")
    h.send("k", 110, "b")  # exactly diff later: shares the window [100, 110]
    h.close_all()
    assert h.finals() == {
        ("k", 90, 100): ["a"],
        ("k", 100, 110): ["a", "b"],
        ("k", 101, 111): ["b"],
    }


def test_late_when_own_window_closed() -> None:
    h = Harness(Sliding(0.01, grace=0.002), emit_final=True)
    h.send("k", 100, "a")
    h.send("k", 105, "b")  # watermark 105
    h.send("k", 102, "c")  # left window [92, 102] closes at 102 + 1 + 2 = 105: late
    h.send("k", 103, "d")  # [93, 103] closes at 106: on time
    h.close_all()
    assert [(x.value, x.window, x.watermark) for x in h.late] == [
        ("c", Windowed.from_ms("k", 92, 102), 105)
    ]
    assert h.finals() == {
        ("k", 90, 100): ["a"],
        ("k", 93, 103): ["a", "d"],
        ("k", 95, 105): ["a", "b", "d"],
        ("k", 101, 111): ["b", "d"],
        ("k", 104, 114): ["b"],
    }


def test_closed_windows_stay_as_copy_sources() -> None:
    # [90, 100] closes at 101, but a record at 106 (on time) still needs its content.
    h = Harness(Sliding(0.01), emit_final=True, ooo=15)
    h.send("k", 100, "a")
    h.send("k", 120, "b")  # watermark 105
    h.send("k", 117, "c")  # watermark still 105
    h.advance(106)
    h.send("k", 106, "d")
    h.close_all()
    finals = h.finals()
    assert finals[("k", 96, 106)] == ["a", "d"]
    assert finals[("k", 101, 111)] == ["d"]
    assert h.late == []


def test_restart_with_an_older_watermark_keeps_windows_closed() -> None:
    store = InMemoryStore("windows")
    first = Harness(Sliding(0.01), emit_final=True, store=store)
    first.send("k", 100, "a")
    first.send("k", 120, "b")
    first.commit()
    assert ("k", 90, 100) in first.finals()
    second = Harness(Sliding(0.01), emit_final=True, store=store)
    second.send("k", 99, "late")  # its window [89, 99] closed before the restart
    second.close_all()
    assert [x.value for x in second.late] == ["late"]
    assert ("k", 90, 100) not in second.finals()
