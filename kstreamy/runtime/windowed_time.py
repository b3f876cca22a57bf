"""Tumbling and hopping window aggregation, with decoded aggregates cached per window.

See :mod:`kstreamy.runtime.windowed` for the semantics shared by every window type. What this
module adds is speed: a record of a tumbling window costs about as much as updating a dict.
Recently used windows are kept decoded in memory, written to the store transaction by
:meth:`flush` (before each commit, and at every watermark sweep) and forgotten by
:meth:`discard` (after an abort).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.runtime.windowed import Forward, OnLate, WindowedAggregation, _plus_one
from kstreamy.state.window_store import WindowStore
from kstreamy.windows import Hopping, Tumbling, Windowed

__all__ = ["CountingTimeWindowedAggregation", "TimeWindowedAggregation"]


class TimeWindowedAggregation(WindowedAggregation):
    """Tumbling and hopping windows (``[start, start + size)``), with a decoded cache.

    The cache maps window start -> key bytes -> entry ``[aggregate, dirty, key bytes, start,
    stored]``: one small list per open window, so a record costs two dict lookups and a list
    update (no tuple key to build and hash, no set of dirty keys). All windows of one start
    close together, so a sweep drops whole starts.
    """

    final_ts_offset = -1  # exclusive end: the last millisecond inside the window

    def __init__(
        self,
        store: WindowStore,
        windows: Tumbling | Hopping,
        *,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        decode_key: Callable[[bytes], Any],
        forward: Forward,
        on_late: OnLate,
        emit_final: bool = False,
        retention_ms: int = 0,
        cache_size: int = 10_000,
    ) -> None:
        if store.window_size_ms != windows.size_ms:
            raise ValueError(
                f"store holds {store.window_size_ms} ms windows, definition says {windows.size_ms}"
            )
        super().__init__(
            store,
            decode=decode,
            decode_key=decode_key,
            forward=forward,
            on_late=on_late,
            emit_final=emit_final,
            retention_ms=retention_ms,
        )
        self.windows = windows
        self.close_offset = windows.grace_ms
        self._size = windows.size_ms
        self._advance = windows.advance_ms
        self._initializer = initializer
        self._aggregator = aggregator
        self._encode = encode
        self._buckets: dict[int, dict[bytes, list[Any]]] = {}
        self._dirty: list[list[Any]] = []  # entries changed since the last flush
        self._cached = 0
        self._cache_size = max(cache_size, 1)
        self.process = self._compile()  # type: ignore[method-assign]

    def _compile(self) -> Callable[[Any, bytes, Any, int, int], None]:
        """The per-record function, with everything it reads bound to locals.

        A closure rather than a method: attribute lookups and per-window helper calls were
        most of the per-record cost of a windowed count.
        """
        me = self
        size, advance = self._size, self._advance
        close = size + self.close_offset  # close time - window start
        buckets, load, late, dirty = self._buckets, self._load, self._late, self._dirty
        aggregator, forward, make = self._aggregator, self._forward, Windowed.from_ms
        counting = aggregator is _plus_one
        updates = not self.emit_final

        def add(key: Any, key_bytes: bytes, value: Any, ts_ms: int, start: int, wm: int) -> None:
            try:
                entry = buckets[start][key_bytes]
            except KeyError:
                entry = load(key_bytes, start)
                if entry is None:  # closed before a restart
                    late(key, value, ts_ms, start, start + size, max(wm, me._swept))
                    return
            agg = entry[0]
            if counting:
                entry[0] = agg = agg + 1
            else:
                if agg is None:  # the aggregator deleted the window earlier
                    agg = me._restart(entry)
                entry[0] = agg = aggregator(key, value, agg)
            if not entry[1]:
                entry[1] = True
                dirty.append(entry)
            if updates:
                forward(make(key, start, start + size), agg, ts_ms)

        if advance == size:

            def process_tumbling(
                key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
            ) -> None:
                start = ts_ms - ts_ms % size
                if start + close <= watermark_ms:
                    late(key, value, ts_ms, start, start + size, watermark_ms)
                    return
                # add(), inlined: this is the hot path of every tumbling aggregation.
                try:
                    entry = buckets[start][key_bytes]
                except KeyError:
                    entry = load(key_bytes, start)
                    if entry is None:  # closed before a restart
                        late(key, value, ts_ms, start, start + size, max(watermark_ms, me._swept))
                        return
                agg = entry[0]
                if counting:
                    entry[0] = agg = agg + 1
                else:
                    if agg is None:
                        agg = me._restart(entry)
                    entry[0] = agg = aggregator(key, value, agg)
                if not entry[1]:
                    entry[1] = True
                    dirty.append(entry)
                if updates:
                    forward(make(key, start, start + size), agg, ts_ms)

            return process_tumbling

        def process_hopping(
            key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
        ) -> None:
            last = ts_ms - ts_ms % advance
            start = last - (size - 1 - (ts_ms - last)) // advance * advance
            while start <= last:
                if start + close <= watermark_ms:
                    late(key, value, ts_ms, start, start + size, watermark_ms)
                else:
                    add(key, key_bytes, value, ts_ms, start, watermark_ms)
                start += advance

        return process_hopping

    def _load(self, key_bytes: bytes, start: int) -> list[Any] | None:
        """The cache entry of a window not in the cache, from the store or new; None if the
        window closed at an earlier watermark than the caller's.

        Cached windows are never closed (sweeps evict them), so checking the stored progress
        here, rather than per record, is enough to keep a restart with an older watermark
        from re-opening closed windows.
        """
        if start + self._size + self.close_offset <= self._swept:
            return None
        if self._cached >= self._cache_size:
            self.flush()
            self._buckets.clear()
            self._cached = 0
        raw = self.store.get(key_bytes, start)
        if raw is None:
            entry = [None, False, key_bytes, start, False]
            entry[0] = self._restart(entry)
        else:
            entry = [self._decode(raw), False, key_bytes, start, True]
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = {}
        bucket[key_bytes] = entry
        self._cached += 1
        return entry

    def _restart(self, entry: list[Any]) -> Any:
        """The initial aggregate of a new window; the window now needs closing."""
        closes = entry[3] + self._size + self.close_offset
        if closes < self._next_close:
            self._next_close = closes
        return self._initializer()

    def flush(self) -> None:
        """Write the windows changed since the last flush to the transaction."""
        dirty = self._dirty
        if not dirty:
            return
        store, encode = self.store, self._encode
        for entry in dirty:
            agg, is_dirty, key_bytes, start, stored = entry
            if not is_dirty:  # closed since it was changed
                continue
            entry[1] = False
            if agg is None:
                if stored:
                    store.delete(key_bytes, start)
                    entry[4] = False
            elif stored:
                store.update(key_bytes, start, encode(agg))
            else:
                store.put(key_bytes, start, encode(agg))
                entry[4] = True
        dirty.clear()

    def discard(self) -> None:
        self._buckets.clear()
        self._dirty.clear()
        self._cached = 0
        super().discard()

    def _evict(self, watermark: int) -> None:
        close = self._size + self.close_offset
        buckets = self._buckets
        for start in [s for s in buckets if s + close <= watermark]:
            for entry in buckets[start].values():
                entry[1] = False  # written by the flush before this; nothing left to write
            self._cached -= len(buckets.pop(start))

    def _take_closing(self, watermark: int) -> list[tuple[bytes, int, int, Any]]:
        close = self._size + self.close_offset
        taken = []
        for start in sorted(s for s in self._buckets if s + close <= watermark):
            bucket = self._buckets.pop(start)
            self._cached -= len(bucket)
            end = start + self._size
            for key_bytes, entry in bucket.items():
                entry[1] = False
                if entry[4]:
                    self.store.delete(key_bytes, start)
                if entry[0] is not None:
                    taken.append((key_bytes, start, end, entry[0]))
        return taken

    def _delete(self, key_bytes: bytes, start: int, end: int) -> None:
        self.store.delete(key_bytes, start)


class CountingTimeWindowedAggregation(TimeWindowedAggregation):
    """``count()`` over tumbling or hopping windows: the cache holds plain ints.

    ``_buckets[start][key bytes]`` is the count and ``_flushed[start][key bytes]`` the count
    the transaction holds (absent: not stored yet). A flush writes the windows whose count
    differs, so a record does no bookkeeping beyond the dict update itself. Counts are
    immutable, which is what makes comparing them enough (a general aggregate may be mutated
    in place, hence the explicit dirty list of the parent class).
    """

    def __init__(self, store: WindowStore, windows: Tumbling | Hopping, **kwargs: Any) -> None:
        self._flushed: dict[int, dict[bytes, int]] = {}
        super().__init__(store, windows, **kwargs)

    def _compile(self) -> Callable[[Any, bytes, Any, int, int], None]:
        me = self
        size, advance = self._size, self._advance
        close = size + self.close_offset
        buckets, load, late = self._buckets, self._load_count, self._late
        forward, make = self._forward, Windowed.from_ms
        updates = not self.emit_final

        if advance == size and not updates:

            def count_tumbling_final(
                key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
            ) -> None:
                # The hot path of the most common windowed aggregation.
                start = ts_ms - ts_ms % size
                if start + close <= watermark_ms:
                    late(key, value, ts_ms, start, start + size, watermark_ms)
                    return
                try:
                    bucket = buckets[start]
                    bucket[key_bytes] = bucket[key_bytes] + 1
                except KeyError:
                    if load(key_bytes, start) is None:  # closed before a restart
                        late(key, value, ts_ms, start, start + size, max(watermark_ms, me._swept))

            return count_tumbling_final

        if advance == size:

            def count_tumbling(
                key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
            ) -> None:
                start = ts_ms - ts_ms % size
                if start + close <= watermark_ms:
                    late(key, value, ts_ms, start, start + size, watermark_ms)
                    return
                try:
                    bucket = buckets[start]
                    bucket[key_bytes] = n = bucket[key_bytes] + 1
                except KeyError:
                    n = load(key_bytes, start)
                    if n is None:  # closed before a restart
                        late(key, value, ts_ms, start, start + size, max(watermark_ms, me._swept))
                        return
                forward(make(key, start, start + size), n, ts_ms)

            return count_tumbling

        def count_hopping(
            key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
        ) -> None:
            last = ts_ms - ts_ms % advance
            start = last - (size - 1 - (ts_ms - last)) // advance * advance
            while start <= last:
                if start + close <= watermark_ms:
                    late(key, value, ts_ms, start, start + size, watermark_ms)
                    start += advance
                    continue
                try:
                    bucket = buckets[start]
                    bucket[key_bytes] = n = bucket[key_bytes] + 1
                except KeyError:
                    n = load(key_bytes, start)
                    if n is None:
                        late(key, value, ts_ms, start, start + size, max(watermark_ms, me._swept))
                        start += advance
                        continue
                if updates:
                    forward(make(key, start, start + size), n, ts_ms)
                start += advance

        return count_hopping

    def _load_count(self, key_bytes: bytes, start: int) -> int | None:
        """Count one record into a window not in the cache; None if it closed earlier."""
        if start + self._size + self.close_offset <= self._swept:
            return None
        if self._cached >= self._cache_size:
            self.flush()
            self._buckets.clear()
            self._flushed.clear()
            self._cached = 0
        raw = self.store.get(key_bytes, start)
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = {}
            self._flushed[start] = {}
        if raw is None:
            self._restart([None, False, key_bytes, start, False])
            count = 0
        else:
            count = self._flushed[start][key_bytes] = self._decode(raw)
        bucket[key_bytes] = count + 1
        self._cached += 1
        return count + 1

    def flush(self) -> None:
        store, encode = self.store, self._encode
        for start, bucket in self._buckets.items():
            flushed = self._flushed[start]
            for key_bytes, count in bucket.items():
                stored = flushed.get(key_bytes)
                if stored == count:
                    continue
                if stored is None:
                    store.put(key_bytes, start, encode(count))
                else:
                    store.update(key_bytes, start, encode(count))
                flushed[key_bytes] = count

    def discard(self) -> None:
        self._flushed.clear()
        super().discard()

    def _evict(self, watermark: int) -> None:
        close = self._size + self.close_offset
        for start in [s for s in self._buckets if s + close <= watermark]:
            self._cached -= len(self._buckets.pop(start))
            del self._flushed[start]

    def _take_closing(self, watermark: int) -> list[tuple[bytes, int, int, Any]]:
        close = self._size + self.close_offset
        taken = []
        for start in sorted(s for s in self._buckets if s + close <= watermark):
            bucket = self._buckets.pop(start)
            flushed = self._flushed.pop(start)
            self._cached -= len(bucket)
            end = start + self._size
            for key_bytes, count in bucket.items():
                if key_bytes in flushed:
                    self.store.delete(key_bytes, start)
                taken.append((key_bytes, start, end, count))
        return taken
