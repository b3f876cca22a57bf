"""The record key inside a store key, per store kind: what rescaling partitions state by.

A key-value store written by an aggregation is keyed by the serialized record key itself. Other
kinds register their own function here, so that rescaling knows how to move their entries.
"""

from __future__ import annotations

from collections.abc import Callable

RecordKeyOf = Callable[[bytes], bytes]

_BY_KIND: dict[str, RecordKeyOf] = {
    "key_value": lambda store_key: store_key,
}
# Window, session and timer stores also hold per-task entries (the watermark of the last sweep,
# a time index) that belong to no record key, so moving them needs more than a key function:
# until that exists, rescaling refuses them by name.


def register_store_kind(kind: str, record_key_of: RecordKeyOf) -> None:
    """Tell rescaling how to find the record key in the store keys of ``kind``."""
    _BY_KIND[kind] = record_key_of


def record_key_of(kind: str) -> RecordKeyOf | None:
    """The function for ``kind``; None when entries of that kind cannot be moved."""
    return _BY_KIND.get(kind)
