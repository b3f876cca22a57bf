"""Timers per key, kept in a task's store so they survive restarts and move with the task.

Flink's timer service, over a byte store transaction: a process function registers
"call me back for key K at time T", in event time (fires when the watermark passes T) or in
processing time (fires when the wall clock reaches T). Timers are store entries, so they are
written to the changelog with the rest of the task's state and restored with it.

Layout: ``[namespace length][namespace][kind][T as order-preserving 8 bytes][key]`` with an
empty value, kind ``E`` (event time) or ``P`` (processing time). The key is the entry itself,
so there is at most one timer per key, kind and time, and "every timer due by T" is one range
scan from the start of the kind's range.

Firing rules:

* event time: a timer at ``T`` fires once the watermark is above ``T`` (``T < watermark``),
  that is once every record at or before ``T`` has been seen. This is Flink's rule: kstreamy's
  watermark is Flink's plus one (see :mod:`kstreamy.time.watermarks`).
* processing time: a timer at ``T`` fires once ``T <= now``.

Timers fire in time order (then key order). A timer registered while timers are firing, and
already due, fires in the same call after the timers already found, as in Flink (so a
callback that keeps re-registering a due timer never lets the call end).

An in-memory lower bound of the earliest timer lets most calls return without a scan. It only
ever errs low, except after the transaction is discarded: call :meth:`TimerService.discard`
then.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from kstreamy.state.window_store import (
    MAX_TIME,
    MIN_TIME,
    ByteTransaction,
    decode_time,
    encode_time,
    prefix_successor,
)

__all__ = ["TimerService"]

_LEN = struct.Struct(">I")
_EVENT = b"E"
_PROCESSING = b"P"
_UNKNOWN = None


class TimerService:
    """Event-time and processing-time timers of one task (and one namespace) in ``txn``."""

    def __init__(self, txn: ByteTransaction, namespace: bytes = b"") -> None:
        self.txn = txn
        base = _LEN.pack(len(namespace)) + namespace
        self._event = base + _EVENT
        self._processing = base + _PROCESSING
        self._hints: dict[bytes, int | None] = {_EVENT: _UNKNOWN, _PROCESSING: _UNKNOWN}

    # registration -----------------------------------------------------------------------
    def register_event_time(self, key: bytes, ts_ms: int) -> None:
        self._register(_EVENT, self._event, key, ts_ms)

    def register_processing_time(self, key: bytes, ts_ms: int) -> None:
        self._register(_PROCESSING, self._processing, key, ts_ms)

    def delete_event_time(self, key: bytes, ts_ms: int) -> None:
        self.txn.delete(self._event + encode_time(ts_ms) + key)

    def delete_processing_time(self, key: bytes, ts_ms: int) -> None:
        self.txn.delete(self._processing + encode_time(ts_ms) + key)

    def has_event_time(self, key: bytes, ts_ms: int) -> bool:
        return self.txn.get(self._event + encode_time(ts_ms) + key) is not None

    def has_processing_time(self, key: bytes, ts_ms: int) -> bool:
        return self.txn.get(self._processing + encode_time(ts_ms) + key) is not None

    def _register(self, kind: bytes, prefix: bytes, key: bytes, ts_ms: int) -> None:
        if not MIN_TIME <= ts_ms <= MAX_TIME:
            raise ValueError(f"timer time out of 64-bit range: {ts_ms}")
        self.txn.put(prefix + encode_time(ts_ms) + key, b"")
        hint = self._hints[kind]
        if hint is not None and ts_ms < hint:
            self._hints[kind] = ts_ms

    # firing -------------------------------------------------------------------------------
    def due_event_time(self, watermark_ms: int) -> Iterator[tuple[int, bytes]]:
        """Remove and yield ``(ts, key)`` of every event-time timer with ``ts < watermark``."""
        return self._due(_EVENT, self._event, watermark_ms)

    def due_processing_time(self, now_ms: int) -> Iterator[tuple[int, bytes]]:
        """Remove and yield ``(ts, key)`` of every processing-time timer with ``ts <= now``."""
        return self._due(_PROCESSING, self._processing, now_ms + 1)

    def next_event_time(self) -> int | None:
        """The earliest event-time timer, or None."""
        return self._first(self._event)

    def next_processing_time(self) -> int | None:
        """The earliest processing-time timer, or None: when the runtime must wake up."""
        return self._first(self._processing)

    def discard(self) -> None:
        """Forget cached bounds; call after the transaction was discarded (aborted)."""
        self._hints = {_EVENT: _UNKNOWN, _PROCESSING: _UNKNOWN}

    def _due(self, kind: bytes, prefix: bytes, before_ms: int) -> Iterator[tuple[int, bytes]]:
        hint = self._hints[kind]
        if hint is not None and hint >= before_ms:
            return
        lower = prefix + encode_time(MIN_TIME)
        upper = (
            prefix + encode_time(before_ms) if before_ms <= MAX_TIME else prefix_successor(prefix)
        )
        offset = len(prefix)
        txn = self.txn
        while True:
            batch = [raw for raw, _ in txn.items(lower, upper)]
            if not batch:
                break
            for raw in batch:
                # Removed before the callback runs, so the callback may register it again.
                txn.delete(raw)
                yield decode_time(raw, offset), raw[offset + 8 :]
        self._hints[kind] = self._first(prefix)
        if self._hints[kind] is None:
            self._hints[kind] = MAX_TIME

    def _first(self, prefix: bytes) -> int | None:
        for raw, _ in self.txn.items(prefix, prefix_successor(prefix)):
            return decode_time(raw, len(prefix))
        return None
