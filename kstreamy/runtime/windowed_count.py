"""``count()`` over tumbling and hopping windows, with plain ints in the window cache.

Same semantics and cache life cycle as :mod:`kstreamy.runtime.windowed_time` (whose cache and
store handling this reuses); what differs is the cache entry, a bare count, which makes the
most common windowed aggregation a dict update per record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.runtime.windowed_time import TimeWindowedAggregation
from kstreamy.state.window_store import WindowStore
from kstreamy.windows import Hopping, Tumbling, Windowed

__all__ = ["CountingTimeWindowedAggregation"]


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
            self._fresh.clear()
            self._cached = 0
        if start not in self._buckets:
            self._flushed[start] = {}
        bucket = self._new_bucket(start)
        raw = None if start in self._fresh else self.store.get(key_bytes, start)
        if raw is None:
            self._restart([None, False, key_bytes, start, False])
            count = 0
        else:
            count = self._flushed[start][key_bytes] = self._decode(raw)
        bucket[key_bytes] = count + 1
        self._cached += 1
        return count + 1

    def flush(self) -> None:
        store, encode, fast_encode = self.store, self._encode, self._fast_encode
        window_key, index_entry = store.window_key, store.index_entry
        writes: list[tuple[bytes, bytes | None]] = []
        write = writes.append
        try:
            for start, bucket in self._buckets.items():
                flushed = self._flushed[start]
                for key_bytes, count in bucket.items():
                    stored = flushed.get(key_bytes)
                    if stored == count:
                        continue
                    try:
                        raw = fast_encode(count)
                    except Exception:
                        raw = encode(count)
                    if raw is None:
                        raise TypeError(f"value serde wrote None for the count {count!r}")
                    store_key = window_key(key_bytes, start)
                    write((store_key, raw))
                    if stored is None:
                        write((index_entry(store_key), b""))
                    flushed[key_bytes] = count
        finally:
            store.write(writes)

    def discard(self) -> None:
        self._flushed.clear()
        super().discard()

    def _evict(self, watermark: int) -> None:
        close = self._size + self.close_offset
        for start in [s for s in self._buckets if s + close <= watermark]:
            self._drop_bucket(start)
            del self._flushed[start]

    def _take_closing(self, watermark: int) -> list[tuple[bytes, int, int, Any]]:
        close = self._size + self.close_offset
        window_key, index_entry = self.store.window_key, self.store.index_entry
        taken = []
        deletes: list[tuple[bytes, bytes | None]] = []
        for start in sorted(s for s in self._buckets if s + close <= watermark):
            flushed = self._flushed.pop(start)
            end = start + self._size
            for key_bytes, count in self._drop_bucket(start).items():
                if key_bytes in flushed:
                    store_key = window_key(key_bytes, start)
                    deletes.append((store_key, None))
                    deletes.append((index_entry(store_key), None))
                taken.append((key_bytes, start, end, count))
        self.store.write(deletes)
        return taken
