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
from kstreamy.partitioner import partition_for


def murmur2_partition(key: bytes, partitions: int) -> int:
    return partition_for(key, partitions)


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
