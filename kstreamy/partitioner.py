"""Which partition a key belongs to, computed as Kafka's Java clients compute it.

kstreamy's producers partition keyed records with librdkafka's ``murmur2_random`` partitioner,
which matches the Java client's default partitioner. Interactive queries must find the task
holding a key without producing anything, so the same hash is needed in Python:
``toPositive(murmur2(key)) % partitions``.
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of ``data`` as a signed int (``Utils.murmur2`` in Java)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    full = length - length % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    if rest == 3:
        h ^= data[full + 2] << 16
    if rest >= 2:
        h ^= data[full + 1] << 8
    if rest >= 1:
        h ^= data[full]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (and kstreamy's producers) send ``key`` to."""
    if partitions <= 0:
        raise ValueError(f"partitions must be > 0, got {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
