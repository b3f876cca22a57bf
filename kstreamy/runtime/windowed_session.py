"""Session-window aggregation with Kafka Streams' ``SessionWindows`` semantics.

A record at ``t`` joins every open session of its key that ends at or after ``t - gap`` and
starts at or before ``t + gap``; all of them and the record merge into one session
``[min start, max end]`` whose aggregate is ``merger`` over the old aggregates (starting from
the initializer), then ``aggregator`` with the record. In update mode the merged-away sessions
are forwarded as deletions (``None``) before the merged session, as Kafka Streams does.

A session closes when the watermark reaches ``end + gap + grace + 1``: from then on no record
can extend it (Kafka Streams 3.x's rule). A record is late when the session it would end up
in is closed.

Where kstreamy differs from Kafka Streams:

* A closed session is final. A record that is within ``gap`` of a closed session and of an
  open one joins only the open one. Kafka Streams may still find the closed session (while it
  is retained) and merge it, which under emit-final produces a second result overlapping one
  already emitted. Flink behaves like kstreamy here.
* When the record falls inside an existing session (the session keeps its bounds), only the
  updated session is forwarded; Kafka Streams without caching first forwards a deletion of
  that same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.runtime.windowed import Forward, OnLate, WindowedAggregation
from kstreamy.state.session_store import SessionStore
from kstreamy.windows import Session, Windowed

__all__ = ["SessionWindowedAggregation"]


class SessionWindowedAggregation(WindowedAggregation):
    """Merging session windows over a :class:`SessionStore`."""

    final_ts_offset = 0  # inclusive end

    def __init__(
        self,
        store: SessionStore,
        windows: Session,
        *,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        merger: Callable[[Any, Any, Any], Any],
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        decode_key: Callable[[bytes], Any],
        forward: Forward,
        on_late: OnLate,
        emit_final: bool = False,
        retention_ms: int = 0,
    ) -> None:
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
        self.close_offset = windows.gap_ms + windows.grace_ms + 1
        self._gap = windows.gap_ms
        self._initializer = initializer
        self._aggregator = aggregator
        self._merger = merger
        self._encode = encode

    def process(
        self, key: Any, key_bytes: bytes, value: Any, ts_ms: int, watermark_ms: int
    ) -> None:
        t = ts_ms
        watermark = max(watermark_ms, self._swept)
        close = self.close_offset
        store = self.store
        found = [
            session
            for session in store.find_sessions(key_bytes, t - self._gap, t + self._gap)
            if session[1] + close > watermark  # closed sessions are final, even if retained
        ]
        start = end = t
        for s, e, _ in found:
            if s < start:
                start = s
            if e > end:
                end = e
        if end + close <= watermark:
            self._late(key, value, t, start, end, watermark)
            return
        agg = self._initializer()
        decode, merger = self._decode, self._merger
        for _, _, raw in found:
            agg = merger(key, agg, decode(raw))
        agg = self._aggregator(key, value, agg)
        updates = not self.emit_final
        for s, e, _ in found:
            if s != start or e != end:
                store.delete(key_bytes, s, e)
                if updates:
                    self._forward(Windowed.from_ms(key, s, e), None, t)
        store.put(key_bytes, start, end, self._encode(agg))
        if end + close < self._next_close:
            self._next_close = end + close
        if updates:
            self._forward(Windowed.from_ms(key, start, end), agg, t)

    def _delete(self, key_bytes: bytes, start: int, end: int) -> None:
        self.store.delete(key_bytes, start, end)
