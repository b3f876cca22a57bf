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

    def changelog_records(self) -> Iterator[tuple[str, bytes, bytes | None]]:
        for txn in self.transactions.values():
            if txn.changelog_topic is None:
                continue
            for key, value in txn.pending_changelog():
                yield txn.changelog_topic, key, value

    def apply(self) -> None:
        """Write the buffered writes to the stores; their changelog offsets become claimable."""
        for txn in self.transactions.values():
            if txn.dirty:
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
        """Flush persistent stores, then record their changelog offsets (never the reverse)."""
        if self.checkpoint is None or not (self._checkpoint_due or force):
            return
        persistent = {}
        for store in self.stores.values():
            if store.persistent:
                store.flush()
        for txn in self.transactions.values():
            if txn.store.persistent and txn.changelog_topic in self.changelog_offsets:
                persistent[txn.changelog_topic] = self.changelog_offsets[txn.changelog_topic]
        self.checkpoint.write(persistent, self.metadata)
        self._checkpoint_due = False

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
