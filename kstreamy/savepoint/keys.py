"""The record key inside a store key, per store kind: what rescaling partitions state by.

A key-value store written by an aggregation is keyed by the serialized record key itself; a
window store prefixes it (:mod:`kstreamy.state.keys`). Other kinds (sessions, timers) register
their own function here, so that rescaling knows how to move their entries.
"""

from __future__ import annotations

from collections.abc import Callable

from kstreamy.state.keys import split_window_key

RecordKeyOf = Callable[[bytes], bytes]

_BY_KIND: dict[str, RecordKeyOf] = {
    "key_value": lambda store_key: store_key,
    "window": lambda store_key: split_window_key(store_key)[0],
}


def register_store_kind(kind: str, record_key_of: RecordKeyOf) -> None:
    """Tell rescaling how to find the record key in the store keys of ``kind``."""
    _BY_KIND[kind] = record_key_of


def record_key_of(kind: str) -> RecordKeyOf | None:
    """The function for ``kind``; None when entries of that kind cannot be moved."""
    return _BY_KIND.get(kind)
