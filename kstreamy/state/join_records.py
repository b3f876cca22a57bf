"""The value layout of a stream-stream join's window stores.

Each side of a join keeps its records in a window store (:mod:`kstreamy.state.window_store`),
one entry per key and event time. Several records of one side may share a key and a
millisecond, so an entry holds all of them, in arrival order, behind one flag byte:

    [flags: 1 byte][4-byte length][value bytes][4-byte length][value bytes]...

Flag bit 0 ("matched") says that a record of the other side has joined these records. All
records of one entry have the same key and time, so they have the same join window and the
same partners: a partner that joins one joins them all, which is why one flag per entry is
enough. It is what a left or outer join reads when the window closes, to emit an unmatched
result only for records that never joined. Keeping it in the entry itself (rather than in a
third store, as Kafka Streams does) means it is written, changelogged and restored together
with the records, in the same transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from kstreamy.errors import SerdeError

__all__ = ["JoinRecords", "JoinRecordsSerde", "append", "decode", "is_matched", "mark_matched"]

_LEN = struct.Struct(">I")
_MATCHED = 0x01


def append(entry: bytes | None, value: bytes, matched: bool) -> bytes:
    """``entry`` with ``value`` added at the end (a new entry when ``entry`` is None); the
    entry counts as matched if it was or if ``matched``."""
    if entry is None:
        return bytes((_MATCHED if matched else 0,)) + _LEN.pack(len(value)) + value
    flags = entry[0] | (_MATCHED if matched else 0)
    return bytes((flags,)) + entry[1:] + _LEN.pack(len(value)) + value


def is_matched(entry: bytes) -> bool:
    return bool(entry[0] & _MATCHED)


def mark_matched(entry: bytes) -> bytes:
    """The same entry, flagged as joined."""
    return bytes((entry[0] | _MATCHED,)) + entry[1:]


def decode(entry: bytes) -> list[bytes]:
    """The value bytes of an entry, in arrival order.

    A damaged entry (from a damaged savepoint or changelog) raises ValueError saying so,
    rather than the struct error of a length cut short."""
    if not entry:
        raise ValueError("corrupt join store entry: empty (no flag byte)")
    values = []
    pos, end = 1, len(entry)
    unpack = _LEN.unpack_from
    while pos < end:
        if pos + 4 > end:
            raise ValueError(f"corrupt join store entry: length at byte {pos} is cut short")
        (length,) = unpack(entry, pos)
        pos += 4
        values.append(entry[pos : pos + length])
        pos += length
    if pos != end:
        raise ValueError("corrupt join store entry: lengths do not add up")
    return values


class JoinRecords(NamedTuple):
    """A join store entry, typed: whether it joined, and its records' values."""

    matched: bool
    values: list[Any]


class JoinRecordsSerde:
    """The serde a join store's :class:`~kstreamy.topology.StoreSpec` names for its values, so
    readers of the store (savepoints, tests) can decode entries with the side's value serde."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = f"join-records({inner.name})"

    def serialize(self, records: JoinRecords | None) -> bytes | None:
        if records is None:
            return None
        if not isinstance(records, JoinRecords):
            raise SerdeError(f"join store entries are JoinRecords, got {type(records).__name__}")
        entry: bytes | None = None
        serialize: Callable[[Any], bytes | None] = self.inner.serialize
        for value in records.values:
            entry = append(entry, serialize(value) or b"", records.matched)
        if entry is None:
            raise ValueError("a join store entry holds at least one record")
        return entry

    def deserialize(self, data: bytes | None) -> JoinRecords | None:
        if data is None:
            return None
        deserialize = self.inner.deserialize
        try:
            values = decode(data)
        except ValueError as exc:
            raise SerdeError(str(exc)) from exc
        return JoinRecords(is_matched(data), [deserialize(v) for v in values])
