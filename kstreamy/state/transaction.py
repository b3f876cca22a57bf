"""The per-task write buffer between processing and the store.

Processing writes here, never to the store directly. Under exactly-once the buffer is applied
only after the Kafka transaction holding the same writes (as changelog records) has committed,
so the store never contains state from an aborted transaction and a crash needs no wipe.
At-least-once uses the same path, so both guarantees share one tested code path.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from kstreamy.state.store import KeyValueStore

_MISSING = object()


class StoreTransaction:
    """Uncommitted writes of one store of one task, read through to the store.

    Only the last write per key is kept: the changelog is compacted by key anyway, so
    intermediate values would be produced only to be compacted away.
    """

    def __init__(self, store: KeyValueStore, changelog_topic: str | None, partition: int) -> None:
        self.store = store
        self.changelog_topic = changelog_topic
        self.partition = partition
        self._pending: dict[bytes, bytes | None] = {}
        # Pending keys in order, built by the first range scan and then kept up to date, so
        # window and session stores can scan per record without re-sorting the whole buffer.
        self._sorted: list[bytes] | None = None
        self._unsorted: list[bytes] = []  # keys added since the last scan

    @property
    def dirty(self) -> bool:
        """Whether anything was written since the last :meth:`apply` or :meth:`discard`."""
        return bool(self._pending)

    @property
    def pending_count(self) -> int:
        """Number of dirty keys; lets the runtime commit early when the buffer grows large."""
        return len(self._pending)

    def get(self, key: bytes) -> bytes | None:
        """Read own uncommitted writes first, so a task sees what it wrote a moment ago."""
        value = self._pending.get(key, _MISSING)
        if value is _MISSING:
            return self.store.get(key)
        return value

    def put(self, key: bytes, value: bytes) -> None:
        if value is None:
            raise TypeError("put() needs a value; use delete() to remove a key")
        if self._sorted is not None and key not in self._pending:
            self._unsorted.append(key)
        self._pending[key] = value

    def delete(self, key: bytes) -> None:
        if self._sorted is not None and key not in self._pending:
            self._unsorted.append(key)
        self._pending[key] = None

    def write_many(self, writes: list[tuple[bytes, bytes | None]]) -> None:
        """:meth:`put` (or, for a None value, :meth:`delete`) of each pair, in order.

        For owners that write many keys at once (window caches at a commit): one call instead
        of one per key, and no per-key bookkeeping until a range scan needs the keys sorted.
        """
        pending = self._pending
        if self._sorted is None:
            pending.update(writes)
            return
        unsorted = self._unsorted
        for key, value in writes:
            if key not in pending:
                unsorted.append(key)
            pending[key] = value

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Scan ``start <= key < end`` as the store will look once this buffer is applied.

        The buffered part is copied when the call is made, so writes during the scan do not
        disturb it.
        """
        keys = self._sorted_keys()
        lo = 0 if start is None else bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end, lo)
        pending = self._pending
        buffered = [(k, pending[k]) for k in keys[lo:hi]]
        return _merge(iter(self.store.items(start, end)), buffered)

    def _sorted_keys(self) -> list[bytes]:
        keys = self._sorted
        if keys is None:
            keys = self._sorted = sorted(self._pending)
            self._unsorted = []
        elif self._unsorted:
            unsorted = self._unsorted
            if len(unsorted) * 32 < len(keys):
                # A few new keys (a scan per record, as window stores and joins do): binary
                # insertion is a search plus a memmove each, where re-sorting would compare
                # every buffered key again and make a commit interval quadratic.
                for key in unsorted:
                    insort(keys, key)
            else:
                # Two sorted runs: Timsort merges them in linear time.
                unsorted.sort()
                keys += unsorted
                keys.sort()
            self._unsorted = []
        return keys

    def pending_changelog(self) -> list[tuple[bytes, bytes | None]]:
        """One record per dirty key, in first-write order; None is a tombstone.

        Empty when the store has no changelog, so the caller never produces to a missing
        topic.
        """
        if self.changelog_topic is None:
            return []
        return list(self._pending.items())

    def apply(self) -> None:
        """Write the buffer to the store in one atomic batch, then clear it.

        The buffer is kept if the write fails, so the caller still knows what the store lacks.
        """
        if not self._pending:
            return
        self.store.write_batch(self._pending.items())
        self._clear()

    def discard(self) -> None:
        """Drop the buffer: the transaction these writes belonged to was aborted."""
        self._clear()

    def _clear(self) -> None:
        self._pending = {}
        self._sorted = None
        self._unsorted = []

    def __repr__(self) -> str:
        return (
            f"StoreTransaction(store={self.store.name!r}, "
            f"changelog={self.changelog_topic!r}, partition={self.partition}, "
            f"pending={len(self._pending)})"
        )


def _merge(
    stored: Iterator[tuple[bytes, bytes]], buffered: list[tuple[bytes, bytes | None]]
) -> Iterator[tuple[bytes, bytes]]:
    """Merge two key-sorted sequences; buffered entries win and None hides the key."""
    pos = 0
    for key, value in stored:
        while pos < len(buffered) and buffered[pos][0] < key:
            bkey, bvalue = buffered[pos]
            pos += 1
            if bvalue is not None:
                yield bkey, bvalue
        if pos < len(buffered) and buffered[pos][0] == key:
            bvalue = buffered[pos][1]
            pos += 1
            if bvalue is not None:
                yield key, bvalue
            continue
        yield key, value
    for bkey, bvalue in buffered[pos:]:
        if bvalue is not None:
            yield bkey, bvalue
