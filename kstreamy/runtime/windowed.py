"""Windowed count / reduce / aggregate: what a windowed aggregation node does per record and
per watermark, independent of how the topology compiler binds it.

``process(key, key_bytes, value, ts_ms, watermark_ms)`` folds a record into its windows;
``on_watermark(watermark_ms)`` closes windows the watermark has passed. Two emit modes, as in
Kafka Streams:

* update (default): every change of a window is forwarded at once, as
  ``forward(Windowed(key, start, end), aggregate, ts_ms)`` with the record's timestamp;
* final (``emit_final=True``): nothing is forwarded until the window closes
  (``watermark >= close_time(end)``), then exactly one result per window, with the window's
  last millisecond as timestamp.

A window is removed from the store when it closes (or ``retention_ms`` later, for interactive
queries). A record that would update a closed window is *late*: it is handed to
``on_late(key, value, ts_ms, window, watermark_ms)`` once per closed window (a hopping record
can be late for some windows and on time for others), never dropped silently.

Closing is idempotent across restarts: the watermark of the last sweep is stored with the
windows (same transaction), so a restarted task neither emits a window twice nor re-opens one
whose result was emitted, even if the restored watermark is older.

What the runtime calls, per aggregation node of a task:

* ``process(...)`` per record, with the task's current watermark (before or after observing
  the record: a record can never close a window it belongs to by itself);
* ``on_watermark(w)`` whenever the task's watermark rises (cheap when nothing closes);
* ``flush()`` before every commit: tumbling and hopping windows keep recently used aggregates
  decoded in memory (:mod:`kstreamy.runtime.windowed_time`) and write them to the store
  transaction only then (every sweep flushes too);
* ``discard()`` after the store transaction was discarded (aborted), so nothing in memory
  outlives the transaction it belonged to.

Aggregators may return a new value or mutate and return the one they got; a value forwarded in
update mode is the live aggregate and must not be kept by downstream code.

Implementations: tumbling and hopping windows in :mod:`kstreamy.runtime.windowed_time` (and
:mod:`kstreamy.runtime.windowed_count` for ``count()``), sliding windows in
:mod:`kstreamy.runtime.windowed_sliding`, sessions in :mod:`kstreamy.runtime.windowed_session`.
Where kstreamy differs from Kafka Streams and Flink is
written down there and in docs/event-time.md.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from kstreamy.state.meta_names import SWEPT_META
from kstreamy.state.session_store import SessionStore
from kstreamy.state.window_store import ByteTransaction, TimeIndexedStore, WindowStore
from kstreamy.time.watermarks import NO_WATERMARK
from kstreamy.windows import Hopping, Session, Sliding, Tumbling, WindowDefinition, Windowed

__all__ = [
    "SWEPT_META",
    "Fold",
    "WindowedAggregation",
    "counting",
    "reducing",
    "windowed_aggregation",
]

Forward = Callable[[Windowed, Any, int], None]
OnLate = Callable[[Any, Any, int, Windowed, int], None]

_LONG = struct.Struct(">q")
_MAX = (1 << 63) - 1


class WindowedAggregation:
    """The part every window type shares: sweeping closed windows at watermarks.

    Subclasses set how far after a window's end it closes (``close_offset``: grace, plus 1
    for inclusive ends, plus the gap for sessions) and the timestamp of final results.
    """

    close_offset: int
    final_ts_offset: int  # final result timestamp = end + this

    def __init__(
        self,
        store: TimeIndexedStore,
        *,
        decode: Callable[[bytes], Any],
        decode_key: Callable[[bytes], Any],
        forward: Forward,
        on_late: OnLate,
        emit_final: bool,
        retention_ms: int,
    ) -> None:
        if retention_ms < 0:
            raise ValueError(f"retention_ms must be >= 0, got {retention_ms}")
        self.store = store
        self.emit_final = emit_final
        self.retention_ms = retention_ms
        self._decode = decode
        self._decode_key = decode_key
        self._forward = forward
        self._on_late = on_late
        self._load_progress()

    def _load_progress(self) -> None:
        raw = self.store.get_meta(SWEPT_META)
        # _swept: highest watermark seen (records below it are judged against it);
        # _emitted: watermark of the last sweep, stored with the windows.
        self._swept = self._emitted = NO_WATERMARK if raw is None else _LONG.unpack(raw)[0]
        # Lower bound of the close time of every window not yet closed; NO_WATERMARK means
        # unknown (the next watermark scans).
        self._next_close = NO_WATERMARK

    def process(
        self, key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
    ) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Write cached aggregates to the transaction (before a commit)."""

    def discard(self) -> None:
        """Forget in-memory state after the transaction was discarded."""
        self._load_progress()

    def on_watermark(self, watermark_ms: int) -> None:
        """Close every window whose close time the watermark has reached.

        Cheap when nothing closes: it compares with a lower bound of the next close time.
        """
        if watermark_ms <= self._swept:
            return
        self._swept = watermark_ms
        if watermark_ms < self._next_close:
            return
        self._sweep(watermark_ms)

    def _sweep(self, watermark: int) -> None:
        store = self.store
        offset = self.close_offset
        upto = watermark - offset + 1  # windows with end < upto have close <= watermark
        keep = self.retention_ms > 0
        # Windows held in memory close without a store round trip (and one never stored is
        # not written just to be deleted); the store has the rest.
        closing = [] if keep else self._take_closing(watermark)
        self.flush()
        stored = store.ending_between(self._emitted - offset + 1, upto)
        if self.emit_final:
            final = self._final_value
            found = closing + [(kb, start, end, final(raw)) for kb, start, end, raw in stored]
            if closing and stored:
                found.sort(key=_index_order)
            forward, decode_key, ts_offset = self._forward, self._decode_key, self.final_ts_offset
            for key_bytes, start, end, agg in found:
                forward(Windowed.from_ms(decode_key(key_bytes), start, end), agg, end + ts_offset)
        if keep:
            self._evict(watermark)
            store.drop_before(upto - self.retention_ms)
        else:
            for key_bytes, start, end, _ in stored:
                self._delete(key_bytes, start, end)
        store.put_meta(SWEPT_META, _LONG.pack(watermark))
        self._emitted = watermark
        first = store.first_end(upto)
        self._next_close = _MAX if first is None else first + offset

    def _take_closing(self, watermark: int) -> list[tuple[bytes, int, int, Any]]:
        """Remove the windows held in memory that close at ``watermark`` (deleting any stored
        copy); return ``(key bytes, start, end, aggregate)`` of those to emit."""
        return []

    def _final_value(self, raw: bytes) -> Any:
        return self._decode(raw)

    def _delete(self, key_bytes: bytes, start: int, end: int) -> None:
        raise NotImplementedError

    def _evict(self, watermark: int) -> None:
        """Windows closed at ``watermark`` and kept in the store for retention: drop what is
        kept of them in memory."""

    def _late(self, key: Any, value: Any, ts_ms: int, start: int, end: int, watermark: int) -> None:
        self._on_late(key, value, ts_ms, Windowed.from_ms(key, start, end), watermark)


class Fold(NamedTuple):
    """initializer / aggregator / session merger of a built-in aggregation."""

    initializer: Callable[[], Any]
    aggregator: Callable[[Any, Any, Any], Any]
    merger: Callable[[Any, Any, Any], Any]


def _index_order(window: tuple[bytes, int, int, Any]) -> tuple[int, int, bytes, int]:
    key_bytes, start, end, _ = window
    return end, len(key_bytes), key_bytes, start


def counting() -> Fold:
    """``count()``: the number of records per window (merged sessions add up)."""
    return Fold(_zero, _plus_one, _add_counts)


def _zero() -> int:
    return 0


def _plus_one(key: Any, value: Any, agg: int) -> int:
    return agg + 1


def _add_counts(key: Any, a: int, b: int) -> int:
    return a + b


_NOTHING = object()


def reducing(reducer: Callable[[Any, Any], Any]) -> Fold:
    """``reduce(reducer)``: the first value, then ``reducer(aggregate, value)``.

    The initial marker never reaches the store: the aggregator replaces it with the first
    value, and merging sessions with it returns the other side.
    """

    def aggregate(key: Any, value: Any, agg: Any) -> Any:
        return value if agg is _NOTHING else reducer(agg, value)

    def merge(key: Any, a: Any, b: Any) -> Any:
        if a is _NOTHING:
            return b
        if b is _NOTHING:
            return a
        return reducer(a, b)

    return Fold(lambda: _NOTHING, aggregate, merge)


def windowed_aggregation(
    txn: ByteTransaction,
    windows: WindowDefinition,
    *,
    initializer: Callable[[], Any],
    aggregator: Callable[[Any, Any, Any], Any],
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    decode_key: Callable[[bytes], Any],
    forward: Forward,
    on_late: OnLate,
    emit_final: bool = False,
    merger: Callable[[Any, Any, Any], Any] | None = None,
    retention_ms: int = 0,
    cache_size: int = 10_000,
    fast_encode: Callable[[Any], bytes] | None = None,
) -> WindowedAggregation:
    """Build the aggregation for ``windows`` over the store transaction ``txn``.

    ``merger(key, agg1, agg2)`` is needed (only) for session windows. The store must be used
    by this aggregation alone: it also keeps the aggregation's progress. ``fast_encode`` is
    the value serde's fast serializer, if it has one (tumbling and hopping windows use it).
    """
    common: dict[str, Any] = {
        "initializer": initializer,
        "aggregator": aggregator,
        "encode": encode,
        "decode": decode,
        "decode_key": decode_key,
        "forward": forward,
        "on_late": on_late,
        "emit_final": emit_final,
        "retention_ms": retention_ms,
    }
    if isinstance(windows, (Tumbling, Hopping)):
        from kstreamy.runtime.windowed_count import CountingTimeWindowedAggregation
        from kstreamy.runtime.windowed_time import TimeWindowedAggregation

        kind = (
            CountingTimeWindowedAggregation if aggregator is _plus_one else TimeWindowedAggregation
        )
        store = WindowStore(txn, windows.size_ms)
        return kind(store, windows, cache_size=cache_size, fast_encode=fast_encode, **common)
    if isinstance(windows, Sliding):
        from kstreamy.runtime.windowed_sliding import SlidingWindowedAggregation

        return SlidingWindowedAggregation(WindowStore(txn, windows.size_ms), windows, **common)
    if isinstance(windows, Session):
        from kstreamy.runtime.windowed_session import SessionWindowedAggregation

        if merger is None:
            raise TypeError("session windows need a merger(key, agg1, agg2) to merge sessions")
        return SessionWindowedAggregation(SessionStore(txn), windows, merger=merger, **common)
    raise TypeError(f"not a window definition: {windows!r}")
