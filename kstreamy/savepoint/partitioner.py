"""Which partition a record key belongs to, computed the way the topic's producers do it.

Rescaling moves each key's state to the task its key maps to under the new partition count, so
the mapping must be exactly the one the producers of the input topic use. Two are common:

- ``murmur2``: Kafka's Java clients (and kstreamy, whose producers use librdkafka's
  ``murmur2_random``): ``(murmur2(key) & 0x7fffffff) % partitions``;
- ``crc32``: librdkafka's default (``consistent_random``): ``crc32(key) % partitions``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from kstreamy.errors import KStreamyError

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` as a signed 32-bit int (same bits as the Java code)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - (length & 3)
    for i in range(0, whole, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def murmur2_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def crc32_partition(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


PARTITIONERS: dict[str, Callable[[bytes, int], int]] = {
    "murmur2": murmur2_partition,
    "crc32": crc32_partition,
}


def partitioner(name: str) -> Callable[[bytes, int], int]:
    """The partition function called ``name``; a clear error for an unknown one."""
    try:
        return PARTITIONERS[name]
    except KeyError:
        known = ", ".join(PARTITIONERS)
        raise KStreamyError(f"unknown partitioner {name!r}; known: {known}") from None
