"""A session store: variable-length windows per key, found by overlap for merging.

Layout (see :mod:`kstreamy.state.window_store` for the shared time index and encodings):
primary ``[0x01][4-byte key length][key][end][start]``, the order of Kafka Streams'
``SessionKeySchema``: sessions of one key sort by end, so "sessions of K that end at or after
T" is one range scan starting at T; the scan runs to the key's last session (filtering by
start), because sessions kept past their close for retention may overlap later ones.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from kstreamy.state.window_store import (
    MAX_TIME,
    ByteTransaction,
    TimeIndexedStore,
    encode_time,
    index_key,
    key_prefix,
    prefix_successor,
)

__all__ = ["SessionStore"]

_PRIMARY = b"\x01"
_LEN = struct.Struct(">I")
_TWO_TIMES = struct.Struct(">QQ")
_BIAS = 1 << 63


class SessionStore(TimeIndexedStore):
    """Sessions ``[start, end]`` (inclusive) per key, with a time index on ``end``."""

    def __init__(self, txn: ByteTransaction) -> None:
        super().__init__(txn)

    def _primary_key(self, key: bytes, start_ms: int, end_ms: int) -> bytes:
        return (
            _PRIMARY + _LEN.pack(len(key)) + key + _TWO_TIMES.pack(end_ms + _BIAS, start_ms + _BIAS)
        )

    def get(self, key: bytes, start_ms: int, end_ms: int) -> bytes | None:
        return self.txn.get(self._primary_key(key, start_ms, end_ms))

    def put(self, key: bytes, start_ms: int, end_ms: int, value: bytes) -> None:
        if end_ms < start_ms:
            raise ValueError(f"session ends before it starts: [{start_ms}, {end_ms}]")
        self.txn.put(self._primary_key(key, start_ms, end_ms), value)
        self.txn.put(index_key(end_ms, key, start_ms), b"")

    def delete(self, key: bytes, start_ms: int, end_ms: int) -> None:
        self.txn.delete(self._primary_key(key, start_ms, end_ms))
        self.txn.delete(index_key(end_ms, key, start_ms))

    def find_sessions(
        self, key: bytes, earliest_end_ms: int, latest_start_ms: int
    ) -> list[tuple[int, int, bytes]]:
        """``(start, end, value)`` of ``key``'s sessions with ``end >= earliest_end`` and
        ``start <= latest_start``, by increasing end: the sessions a record at ``t`` merges
        with when called with ``(t - gap, t + gap)``."""
        prefix = _PRIMARY + key_prefix(key)
        lower = prefix + encode_time(max(earliest_end_ms, -(1 << 63)))
        offset = len(prefix)
        found = []
        for raw, value in self.txn.items(lower, prefix_successor(prefix)):
            end, start = _TWO_TIMES.unpack_from(raw, offset)
            start -= _BIAS
            if start <= latest_start_ms:
                found.append((start, end - _BIAS, value))
        return found

    def fetch(self, key: bytes) -> Iterator[tuple[int, int, bytes]]:
        """Every session of ``key`` as ``(start, end, value)``, by increasing end."""
        yield from self.find_sessions(key, -(1 << 63), MAX_TIME)
