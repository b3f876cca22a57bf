"""The stores of one task, seen through per-task transactions.

Processing reads and writes :class:`StoreTransaction` objects; at commit time the runtime asks
this object for the changelog records to produce, then applies the buffered writes to the
stores and records the changelog offsets they now reflect in the task's checkpoint file.
"""

from __future__ import annotations

from collections.abc import Iterator

from kstreamy.state.checkpoint import CheckpointFile
from kstreamy.state.store import KeyValueStore
from kstreamy.state.transaction import StoreTransaction
from kstreamy.topology import StoreSpec

FLUSH_EVERY_RECORDS = 10_000
"""Writes applied to a task's stores between two flushes of its persistent stores (Kafka
Streams' threshold for checkpoints under exactly-once). Flushing at every commit, every 100 ms
under exactly-once, made a tiny SST file per store per commit: compaction churn, a growing
block cache and RocksDB's log filling the disk. In between, the checkpoint keeps the offsets
of the last flush, so a crash replays at most this many changelog records more."""


class TaskState:
    def __init__(
        self,
        partition: int,
        specs: dict[str, StoreSpec],
        application_id: str,
        stores: dict[str, KeyValueStore],
        checkpoint: CheckpointFile | None,
        changelog_offsets: dict[str, int] | None = None,
    ) -> None:
        self.partition = partition
        self.specs = specs
        self.stores = stores
        self.checkpoint = checkpoint
        self.transactions = {
            name: StoreTransaction(store, specs[name].changelog_topic(application_id), partition)
            for name, store in stores.items()
        }
        self.changelog_offsets: dict[str, int] = dict(changelog_offsets or {})
        """Changelog topic -> next offset: how far the stores reflect their changelogs."""
        self.metadata: dict[str, object] = {}
        """Kept in the checkpoint next to the offsets (watermarks, reset generation); whoever
        changes it calls :meth:`metadata_changed` so the next checkpoint records it."""
        self._delivered: dict[str, int] = {}
        """Offsets of changelog records delivered for writes not yet applied to the stores."""
        self._checkpoint_due = False
        self._unflushed = 0
        """Writes applied since the persistent stores were last flushed."""
        self._flushed_offsets: dict[str, int] = self._persistent_offsets()
        """What the persistent stores hold for certain: the offsets as of the last flush."""

    def transaction(self, name: str) -> StoreTransaction:
        try:
            return self.transactions[name]
        except KeyError:
            known = ", ".join(self.transactions) or "none"
            raise KeyError(f"store {name!r} is not available in this task (has: {known})") from None

    @property
    def dirty(self) -> bool:
        return any(t.dirty for t in self.transactions.values())

    @property
    def pending_count(self) -> int:
        return sum(t.pending_count for t in self.transactions.values())

    def changelog_records(self) -> Iterator[tuple[str, list[tuple[bytes, bytes | None]]]]:
        """``(changelog topic, [(key, value), ...])`` per store with buffered writes: the
        records to produce to this task's partition of each changelog, in write order."""
        for txn in self.transactions.values():
            if txn.changelog_topic is None:
                continue
            records = txn.pending_changelog()
            if records:
                yield txn.changelog_topic, records

    def apply(self) -> None:
        """Write the buffered writes to the stores; their changelog offsets become claimable."""
        for txn in self.transactions.values():
            if txn.dirty:
                self._unflushed += txn.pending_count
                txn.apply()
                self._checkpoint_due = True
        for topic, offset in self._delivered.items():
            self.restored_to(topic, offset)
        self._delivered.clear()

    def discard(self) -> None:
        """Drop buffered writes; the offsets of their changelog records are never claimed."""
        for txn in self.transactions.values():
            txn.discard()
        self._delivered.clear()

    def record_changelog_offset(self, topic: str, next_offset: int) -> None:
        """A changelog record of the current buffer was delivered (delivery-report callback)."""
        if next_offset > self._delivered.get(topic, -1):
            self._delivered[topic] = next_offset

    def restored_to(self, topic: str, next_offset: int) -> None:
        """The stores reflect ``topic`` up to ``next_offset`` (after apply or restoration)."""
        if next_offset > self.changelog_offsets.get(topic, -1):
            self.changelog_offsets[topic] = next_offset
            self._checkpoint_due = True

    def metadata_changed(self) -> None:
        self._checkpoint_due = True

    def write_checkpoint(self, force: bool = False) -> None:
        """Record the metadata now and the changelog offsets the stores hold for certain.

        The persistent stores are flushed (the write-ahead log is off) once
        ``FLUSH_EVERY_RECORDS`` writes have been applied since the last flush, and when
        ``force``d (restoration done, a clean close); the offsets written are those of the last
        flush, never beyond it. Restoration always replays the changelog to its end, so the
        stores may hold more than the checkpoint says (replaying a record again gives the same
        value), and the metadata written now matches the state restoration arrives at."""
        if self.checkpoint is None or not (self._checkpoint_due or force):
            return
        if force or self._unflushed >= FLUSH_EVERY_RECORDS:
            for store in self.stores.values():
                if store.persistent:
                    store.flush()
            self._flushed_offsets = self._persistent_offsets()
            self._unflushed = 0
        self.checkpoint.write(self._flushed_offsets, self.metadata)
        self._checkpoint_due = False

    def _persistent_offsets(self) -> dict[str, int]:
        return {
            txn.changelog_topic: self.changelog_offsets[txn.changelog_topic]
            for txn in self.transactions.values()
            if txn.store.persistent and txn.changelog_topic in self.changelog_offsets
        }

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
