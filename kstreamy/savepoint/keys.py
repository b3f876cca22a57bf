"""The record key inside a store key, per store kind: what rescaling partitions state by.

A key-value store written by an aggregation is keyed by the serialized record key itself. The
other kinds wrap it (see :mod:`kstreamy.state.window_store`, :mod:`kstreamy.state.session_store`
and :mod:`kstreamy.runtime.timers` for the layouts):

- window and session stores: primary ``[0x01][length][key][times]``, time index
  ``[0x02][end][length][key][start]``, and per-task metadata ``[0x00][name]`` (how far the
  owner has swept), which belongs to no record key;
- timer stores: ``[namespace length][namespace][E|P][time][key]``.

A function returns None for an entry that belongs to the task rather than to a record key;
rescaling merges those with :mod:`kstreamy.savepoint.task_entries`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from kstreamy.savepoint.errors import SavepointCompatibilityError

RecordKeyOf = Callable[[bytes], bytes | None]

_LEN = struct.Struct(">I")
_TIME_SIZE = 8
_WINDOW_PRIMARY = 0x01
_WINDOW_INDEX = 0x02
_WINDOW_META = 0x00


class UnknownStoreEntry(SavepointCompatibilityError):
    """A store key that fits no layout of its kind: rescaling stops rather than guess."""


def window_record_key(store_key: bytes) -> bytes | None:
    """Window and session stores: the key of a window or index entry; None for metadata."""
    if not store_key:
        raise UnknownStoreEntry("an empty key in a window store")
    tag = store_key[0]
    if tag == _WINDOW_META:
        return None
    if tag == _WINDOW_PRIMARY:
        at = 1
    elif tag == _WINDOW_INDEX:
        at = 1 + _TIME_SIZE
    else:
        raise UnknownStoreEntry(f"window store key of unknown type {tag:#04x}")
    return _length_prefixed(store_key, at)


def timer_record_key(store_key: bytes) -> bytes:
    """Timer stores: the key after the namespace, the kind (E/P) and the time."""
    if len(store_key) < _LEN.size:
        raise UnknownStoreEntry("a timer store key shorter than its namespace length")
    (namespace,) = _LEN.unpack_from(store_key, 0)
    at = _LEN.size + namespace + 1 + _TIME_SIZE
    if len(store_key) < at or store_key[at - 1 - _TIME_SIZE] not in b"EP":
        raise UnknownStoreEntry("a timer store key that is not [namespace][E|P][time][key]")
    return store_key[at:]


def _length_prefixed(data: bytes, at: int) -> bytes:
    if len(data) < at + _LEN.size:
        raise UnknownStoreEntry("a window store key cut short before its key length")
    (length,) = _LEN.unpack_from(data, at)
    start = at + _LEN.size
    if len(data) < start + length:
        raise UnknownStoreEntry("a window store key shorter than its key length says")
    return data[start : start + length]


_BY_KIND: dict[str, RecordKeyOf] = {
    "key_value": lambda store_key: store_key,
    "window": window_record_key,
    "session": window_record_key,
    "timers": timer_record_key,
}


def register_store_kind(kind: str, record_key_of: RecordKeyOf) -> None:
    """Tell rescaling how to find the record key in the store keys of ``kind``."""
    _BY_KIND[kind] = record_key_of


def record_key_of(kind: str) -> RecordKeyOf | None:
    """The function for ``kind``; None when entries of that kind cannot be moved."""
    return _BY_KIND.get(kind)
