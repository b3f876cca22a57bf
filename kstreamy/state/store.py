"""The contract every key-value store backend fulfils.

Stores speak raw bytes only: serdes live above them (in the state views), so a store can be
restored from changelog records byte for byte without knowing any user type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class KeyValueStore(Protocol):
    """A sorted byte-keyed store owned by one task.

    ``persistent`` tells the runtime whether a checkpoint file means anything for the store:
    an in-memory store is empty after a restart, so checkpointing it would skip restoration.
    """

    name: str
    persistent: bool

    def get(self, key: bytes) -> bytes | None:
        """Return the value of ``key``, or None if absent."""
        ...

    def put(self, key: bytes, value: bytes) -> None:
        """Insert or overwrite ``key``."""
        ...

    def delete(self, key: bytes) -> None:
        """Remove ``key``; removing an absent key is not an error."""
        ...

    def write_batch(self, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply all writes atomically (a None value deletes the key).

        Atomicity is what lets a commit apply a whole transaction's buffer without a crash
        leaving half of it in the store.
        """
        ...

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(key, value)`` pairs with ``start <= key < end``, sorted by key."""
        ...

    def approximate_count(self) -> int:
        """Return an estimate of the number of keys, cheap enough for metrics."""
        ...

    def flush(self) -> None:
        """Make every write so far durable.

        The runtime calls it before writing a checkpoint file, because a checkpoint must
        never claim more than what survives a crash.
        """
        ...

    def close(self) -> None:
        """Release the store; it is durable afterwards and unusable through this object."""
        ...
