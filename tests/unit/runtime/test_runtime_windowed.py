"""Tumbling and hopping window aggregation: update and final modes, lateness, caching."""

from __future__ import annotations

import pytest

from kstreamy.runtime.windowed import counting, reducing, windowed_aggregation
from kstreamy.state import InMemoryStore, StoreTransaction
from kstreamy.windows import Hopping, Session, Sliding, Tumbling, Windowed
from tests_support.windowing import Harness


def test_update_mode_forwards_every_change() -> None:
    h = Harness(Tumbling(0.01), count=True)
    h.send("a", 1)
    h.send("a", 5)
    h.send("b", 7)
    h.send("a", 12)
    h.commit()
    assert [(o.window, o.value, o.ts_ms) for o in h.outputs] == [
        (Windowed.from_ms("a", 0, 10), 1, 1),
        (Windowed.from_ms("a", 0, 10), 2, 5),
        (Windowed.from_ms("b", 0, 10), 1, 7),
        (Windowed.from_ms("a", 10, 20), 1, 12),
    ]


def test_final_mode_emits_once_when_the_watermark_passes_end_plus_grace() -> None:
    h = Harness(Tumbling(0.01, grace=0.005), emit_final=True, count=True)
    for ts in (1, 5, 9, 12, 14):
        h.send("a", ts)
    h.commit()
    assert h.outputs == []  # watermark 14 < close time 10 + 5
    h.send("a", 3)  # on time: the window [0, 10) is still open during grace
    h.send("b", 15)  # watermark 15: [0, 10) closes
    h.commit()
    assert [(o.window, o.value, o.ts_ms, o.watermark) for o in h.outputs] == [
        (Windowed.from_ms("a", 0, 10), 4, 9, 15),
    ]
    h.send("a", 2)  # late now
    h.commit()
    assert [(x.key, x.ts_ms, x.window, x.watermark) for x in h.late] == [
        ("a", 2, Windowed.from_ms("a", 0, 10), 15)
    ]
    h.close_all()
    assert h.finals() == {("a", 0, 10): 4, ("a", 10, 20): 2, ("b", 10, 20): 1}


def test_no_grace_closes_at_the_window_end_like_kafka_streams_stream_time() -> None:
    h = Harness(Tumbling(0.01), emit_final=True, count=True)
    h.send("a", 9)
    h.commit()
    assert h.outputs == []
    h.send("a", 10)  # stream time 10 = window end: [0, 10) is closed
    h.commit()
    assert h.finals() == {("a", 0, 10): 1}
    h.send("a", 9)
    h.commit()
    assert len(h.late) == 1


def test_out_of_orderness_delays_closing() -> None:
    h = Harness(Tumbling(0.01), emit_final=True, count=True, ooo=5)
    for ts in (1, 12, 3, 14):
        h.send("a", ts)
    h.commit()
    assert h.outputs == [] and h.late == []
    h.send("a", 15)
    h.commit()
    assert h.finals() == {("a", 0, 10): 2}


def test_hopping_record_can_be_late_for_some_windows_only() -> None:
    h = Harness(Hopping(0.01, 0.005), count=True)
    h.send("a", 12)  # windows [5, 15) and [10, 20)
    h.send("a", 20)  # watermark 20: [5, 15) and [10, 20) closed
    h.send("a", 16)  # [10, 20) is closed, [15, 25) is open
    h.commit()
    assert [(x.ts_ms, x.window) for x in h.late] == [(16, Windowed.from_ms("a", 10, 20))]
    assert h.latest() == {
        ("a", 5, 15): 1,
        ("a", 10, 20): 1,
        ("a", 15, 25): 2,
        ("a", 20, 30): 1,
    }


def test_negative_timestamps_get_ordinary_windows() -> None:
    h = Harness(Hopping(0.01, 0.005), emit_final=True, count=True)
    h.send("a", -3)
    h.close_all()
    assert h.finals() == {("a", -10, 0): 1, ("a", -5, 5): 1}


def test_cache_is_invisible_until_flush_and_dropped_on_discard() -> None:
    h = Harness(Tumbling(1.0), count=True)
    h.send("a", 1)
    h.commit()
    h.send("a", 2)
    assert not h.txn.dirty  # still in the cache
    h.agg.flush()
    assert h.txn.dirty
    h.commit()
    h.send("a", 3)
    h.abort()  # the third record's transaction aborted
    h.send("a", 4)
    h.close_all()
    assert h.latest() == {("a", 0, 1000): 3}


def test_small_cache_flushes_by_itself() -> None:
    h = Harness(Tumbling(1.0), count=True, cache_size=2)
    for key in "abcd":
        h.send(key, 1)
    assert h.txn.dirty
    h.close_all()
    assert h.latest() == {(k, 0, 1000): 1 for k in "abcd"}


@pytest.mark.parametrize("count", [True, False])
@pytest.mark.parametrize(
    "windows", [Tumbling(0.01), Hopping(0.01, 0.01), Hopping(0.01, 0.005)], ids=repr
)
def test_restart_does_not_emit_twice_or_reopen_windows(windows, count) -> None:
    store = InMemoryStore("windows")
    first = Harness(windows, emit_final=True, count=count, store=store)
    first.send("a", 1)
    first.send("a", 10)
    first.commit()
    closed = first.finals()
    assert ("a", 0, 10) in closed
    # Restart with an older watermark than the one that closed [0, 10) (say the checkpoint
    # was written before the last commit): the window stays closed and is not emitted again.
    second = Harness(windows, emit_final=True, count=count, store=store)
    second.send("a", 2)
    second.send("a", 11)
    second.close_all()
    assert Windowed.from_ms("a", 0, 10) in [x.window for x in second.late]
    assert not set(second.finals()) & set(closed)
    assert second.finals()[("a", 10, 20)] == (2 if count else [10, 11])


class ReadCountingStore(InMemoryStore):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get(key)


@pytest.mark.parametrize("count", [True, False])
@pytest.mark.parametrize("windows", [Tumbling(0.01), Hopping(0.01, 0.005)], ids=repr)
def test_windows_of_a_start_the_store_lacks_are_created_without_reading_it(windows, count):
    store = ReadCountingStore("windows")
    first = Harness(windows, emit_final=True, count=count, store=store)
    for key in "abc":
        first.send(key, 3)
    first.commit()
    first.send("a", 4)  # cached: no read either
    first.commit()
    assert store.reads == 1  # the progress, when the aggregation was built
    # A restarted task finds windows of start 0 in the store: it must read them (one each for
    # "a" and "d"; hopping windows of start 5 are new). No window closes until close_all().
    second = Harness(windows, emit_final=True, count=count, store=store, ooo=100)
    second.send("a", 5)
    second.send("d", 6)
    assert store.reads == 4
    second.send("a", 12)  # window starts nothing was stored for: again no read
    second.send("e", 13)
    assert store.reads == 4
    second.close_all()
    expected_a = 3 if count else [3, 4, 5]
    assert second.finals()[("a", 0, 10)] == expected_a
    assert second.finals()[("d", 0, 10)] == (1 if count else [6])
    assert second.finals()[("e", 10, 20)] == (1 if count else [13])


def test_retention_keeps_closed_windows_for_queries() -> None:
    h = Harness(Tumbling(0.01), emit_final=True, count=True, retention_ms=20)
    h.send("a", 1)
    h.send("a", 10)
    h.commit()
    assert h.finals() == {("a", 0, 10): 1}
    assert h.agg.store.get(b"a", 0) is not None  # still queryable
    h.send("a", 29)
    h.commit()
    assert h.agg.store.get(b"a", 0) is not None
    h.send("a", 30)  # 10 + 20 retention
    h.commit()
    assert h.agg.store.get(b"a", 0) is None
    assert h.agg.store.get(b"a", 20) is not None
    assert h.finals() == {("a", 0, 10): 1, ("a", 10, 20): 1, ("a", 20, 30): 1}


def test_aggregator_returning_none_deletes_the_window() -> None:
    forwarded = []
    agg = windowed_aggregation(
        StoreTransaction(InMemoryStore("w"), None, 0),
        Tumbling(1.0),
        initializer=int,
        aggregator=lambda k, v, acc: None if v == "reset" else acc + 1,
        encode=lambda n: str(n).encode(),
        decode=int,
        decode_key=bytes.decode,
        forward=lambda w, v, ts: forwarded.append(v),
        on_late=lambda *a: None,
    )
    for value in ("x", "x", "reset", "x"):
        agg.process("k", b"k", value, 5, -1)
    assert forwarded == [1, 2, None, 1]


def test_reduce_and_count_folds() -> None:
    fold = reducing(max)
    acc = fold.initializer()
    for v in (3, 9, 4):
        acc = fold.aggregator("k", v, acc)
    assert acc == 9
    assert fold.merger("k", fold.initializer(), 5) == 5
    assert fold.merger("k", 5, fold.initializer()) == 5
    assert fold.merger("k", 5, 7) == 7
    count = counting()
    assert count.aggregator("k", "v", count.initializer()) == 1
    assert count.merger("k", 2, 3) == 5


def test_factory_validates() -> None:
    txn = StoreTransaction(InMemoryStore("w"), None, 0)
    common = dict(
        initializer=int,
        aggregator=lambda k, v, a: a,
        encode=bytes,
        decode=bytes,
        decode_key=bytes,
        forward=print,
        on_late=print,
    )
    with pytest.raises(TypeError, match="merger"):
        windowed_aggregation(txn, Session(1.0), **common)
    with pytest.raises(TypeError, match="window definition"):
        windowed_aggregation(txn, object(), **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retention"):
        windowed_aggregation(txn, Sliding(1.0), retention_ms=-1, **common)


@pytest.mark.parametrize(
    "windows", [Tumbling(0.01), Hopping(0.01, 0.005), Sliding(0.01), Session(0.01)]
)
def test_windows_opened_after_everything_closed_still_close(windows) -> None:
    # The watermark passes every window without a record (another partition moved it).
    h = Harness(windows, emit_final=True, count=True)
    h.send("a", 1)
    h.advance(1_000)
    h.commit()
    emitted = len(h.outputs)
    assert emitted > 0
    h.send("a", 2_000)
    h.advance(3_000)
    h.commit()
    assert len(h.outputs) > emitted
    assert all(o.window.start_ms >= 1_000 for o in h.outputs[emitted:])
