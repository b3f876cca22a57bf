"""Sliding-window aggregation with Kafka Streams' ``SlidingWindows`` semantics.

Windows are ``[start, start + diff]`` (inclusive), and exist only where a record enters or
leaves one: for the records ``R`` of a key, the windows are

* ``[t - diff, t]`` for every ``t`` in ``R`` (the record's *left* window), and
* ``[p + 1, p + 1 + diff]`` for every ``p`` in ``R`` with a later record at most
  ``diff + 1`` after it (the *right* window of ``p``: the first window ``p`` has left),

each holding the aggregate of exactly the records of ``R`` inside it. Windows are identified
by their start; two rules naming the same start name the same window.

The aggregator cannot subtract, so a new window cannot be computed from a neighbour by
removing records. As in Kafka Streams, a new window is either started empty, or copied from an
existing window with exactly the same records (the window that ended just before ``t`` for a
left window; the last window holding ``t`` for ``t``'s right window), which is why every
stored window also keeps the largest record timestamp in it (8 bytes before the value) and
why closed windows are kept ``diff`` longer than other window types keep them: they may still
be needed as a copy source.

Where kstreamy differs from Kafka Streams:

* A record is late when its own left window ``[t - diff, t]`` is closed (the window closing
  first among all windows it falls in). It is then reported to ``on_late`` once, with that
  window, and has no effect. Kafka Streams still lets such a record create its right window
  (which the record is not part of) unless that window is closed too; kstreamy does not, so
  that every window holds exactly the on-time records in its range and can be copied safely.
* Records earlier than ``diff`` after the epoch get ordinary windows with negative starts
  (Kafka Streams folds them into one ``[0, diff]`` window).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from kstreamy.runtime.windowed import Forward, OnLate, WindowedAggregation
from kstreamy.state.window_store import WindowStore
from kstreamy.windows import Sliding, Windowed

__all__ = ["SlidingWindowedAggregation"]

_MAX_TS = struct.Struct(">q")


class SlidingWindowedAggregation(WindowedAggregation):
    """Kafka Streams' sliding-window aggregation over a :class:`WindowStore` of size ``diff``."""

    final_ts_offset = 0  # inclusive end: the end is the window's last millisecond

    def __init__(
        self,
        store: WindowStore,
        windows: Sliding,
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
    ) -> None:
        if retention_ms < 0:
            raise ValueError(f"retention_ms must be >= 0, got {retention_ms}")
        if store.window_size_ms != windows.size_ms:
            raise ValueError(
                f"store holds {store.window_size_ms} ms windows, definition says {windows.size_ms}"
            )
        # Windows that may still be copied from have end >= watermark - grace - diff; keep
        # at least those (see the module docstring).
        super().__init__(
            store,
            decode=decode,
            decode_key=decode_key,
            forward=forward,
            on_late=on_late,
            emit_final=emit_final,
            retention_ms=max(retention_ms, windows.size_ms),
        )
        self.windows = windows
        self.close_offset = 1 + windows.grace_ms
        self._diff = windows.size_ms
        self._initializer = initializer
        self._aggregator = aggregator
        self._encode = encode

    def process(
        self, key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
    ) -> None:
        t = ts_ms
        diff = self._diff
        watermark = max(watermark_ms, self._swept)
        if t + self.close_offset <= watermark:
            self._late(key, value, t, t - diff, t, watermark)
            return
        decode = self._decode
        starts = set()
        left_exists = right_exists = False
        left_source: bytes | None = None  # the window ending last before t
        right_source: bytes | None = None  # the last window holding t
        previous: int | None = None  # the latest record before t, where known
        for start, end, raw in list(self.store.fetch(key_bytes, t - 2 * diff, t + 1)):
            starts.add(start)
            max_ts = _MAX_TS.unpack_from(raw)[0]
            if start == t + 1:
                right_exists = True
            elif end < t:
                left_source = raw
                previous = max_ts
            elif end == t:
                left_exists = True
                if max_ts < t:
                    previous = max_ts
                self._put(key, key_bytes, start, max(max_ts, t), self._fold(key, value, raw), t)
            else:  # start <= t < end
                right_source = raw
                self._put(key, key_bytes, start, max(max_ts, t), self._fold(key, value, raw), t)
        if previous is not None and previous + 1 not in starts and previous + 1 + diff >= t:
            # The previous record's right window: t is the first record in it.
            start = previous + 1
            starts.add(start)
            agg = self._aggregator(key, value, self._initializer())
            self._put(key, key_bytes, start, t, agg, t)
        if not left_exists and t - diff not in starts:
            if previous is not None and previous >= t - diff and left_source is not None:
                base = decode(left_source[_MAX_TS.size :])
            else:
                base = self._initializer()
            self._put(key, key_bytes, t - diff, t, self._aggregator(key, value, base), t)
        if not right_exists and right_source is not None:
            right_max = _MAX_TS.unpack_from(right_source)[0]
            if right_max > t:
                # Later records exist within diff: t's right window holds exactly them.
                agg = decode(right_source[_MAX_TS.size :])
                self._put(key, key_bytes, t + 1, right_max, agg, t)

    def _fold(self, key: Any, value: Any, raw: bytes) -> Any:
        return self._aggregator(key, value, self._decode(raw[_MAX_TS.size :]))

    def _put(
        self, key: Any, key_bytes: bytes, start: int, max_ts: int, agg: Any, ts_ms: int
    ) -> None:
        self.store.put(key_bytes, start, _MAX_TS.pack(max_ts) + self._encode(agg))
        closes = start + self._diff + self.close_offset
        if closes < self._next_close:
            self._next_close = closes
        if not self.emit_final:
            self._forward(Windowed.from_ms(key, start, start + self._diff), agg, ts_ms)

    def _final_value(self, raw: bytes) -> Any:
        return self._decode(raw[_MAX_TS.size :])

    def _delete(self, key_bytes: bytes, start: int, end: int) -> None:
        self.store.delete(key_bytes, start)
