"""Open the stores of a task and decide what must be restored from the changelogs.

A store is trusted only together with its checkpoint: a RocksDB directory whose checkpoint
entry is missing or unreadable may hold anything, so it is wiped and rebuilt in full from its
changelog (with a warning), as is a directory RocksDB reports as corrupt.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

from kstreamy.state.checkpoint import CheckpointFile
from kstreamy.state.errors import CheckpointCorruptedError, StoreCorruptedError
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.state.resources import StoreResources
from kstreamy.state.rocksdb_store import RocksDBStore
from kstreamy.state.store import KeyValueStore
from kstreamy.state.task_state import TaskState
from kstreamy.topology import StoreSpec

log = logging.getLogger("kstreamy.state")

CHECKPOINT_FILE = ".checkpoint"


@dataclasses.dataclass
class RestoreSpec:
    """One changelog partition to replay into one store, from ``start_offset`` (None = start)."""

    store: str
    topic: str
    partition: int
    start_offset: int | None


class StateManager:
    """Creates per-task state under ``<state_dir>/<app_id>/<task_id>/<store>``."""

    def __init__(self, app_state_dir: Path, application_id: str, resources: StoreResources):
        self.app_state_dir = app_state_dir
        self.application_id = application_id
        self.resources = resources
        self.reset_generation: str | None = None
        """The application's current reset generation (see kstreamy.runtime.reset_marker)."""
        self.reset_metadata: dict[str, dict[str, object]] = {}
        """Task id -> metadata the reset left for the task (from its savepoint)."""

    def task_dir(self, task_id: str) -> Path:
        return self.app_state_dir / task_id

    def open(
        self, task_id: str, partition: int, specs: dict[str, StoreSpec]
    ) -> tuple[TaskState, list[RestoreSpec]]:
        task_dir = self.task_dir(task_id)
        checkpoint = CheckpointFile(task_dir / CHECKPOINT_FILE)
        try:
            offsets, metadata = checkpoint.read_all()
        except CheckpointCorruptedError as exc:
            log.warning("task %s: %s; rebuilding its stores from the changelogs", task_id, exc)
            offsets, metadata = {}, {}
            for name, spec in specs.items():
                if spec.backend == "rocksdb":
                    RocksDBStore.destroy(task_dir / name)
            checkpoint.delete()
        if metadata.get("reset_generation") != self.reset_generation:
            offsets, metadata = self._wipe_for_reset(task_id, task_dir, specs, checkpoint)
        stores: dict[str, KeyValueStore] = {}
        plan: list[RestoreSpec] = []
        trusted: dict[str, int] = {}
        for name, spec in specs.items():
            topic = spec.changelog_topic(self.application_id)
            store, offset = self._open_store(task_id, task_dir, spec, topic, offsets)
            stores[name] = store
            if topic is not None:
                plan.append(RestoreSpec(name, topic, partition, offset))
                if offset is not None:
                    trusted[topic] = offset
        state = TaskState(partition, specs, self.application_id, stores, checkpoint, trusted)
        state.metadata.update(metadata)
        if not checkpoint.exists():
            state.metadata_changed()
        return state, plan

    def _wipe_for_reset(
        self, task_id: str, task_dir: Path, specs: dict[str, StoreSpec], checkpoint: CheckpointFile
    ) -> tuple[dict[str, int], dict[str, object]]:
        """Local state from before the application's last reset: the changelogs were reset, so
        it no longer matches them. Wipe it; the task starts from the reset's state."""
        stale = [name for name in specs if (task_dir / name).exists()]
        if stale or checkpoint.exists():
            log.warning(
                "task %s: local state predates reset %s; wiping it and restoring from the "
                "changelogs",
                task_id,
                self.reset_generation,
            )
        for name in stale:
            RocksDBStore.destroy(task_dir / name)
        checkpoint.delete()
        metadata = dict(self.reset_metadata.get(task_id, {}))
        metadata["reset_generation"] = self.reset_generation
        return {}, metadata

    def _open_store(
        self,
        task_id: str,
        task_dir: Path,
        spec: StoreSpec,
        topic: str | None,
        offsets: dict[str, int],
    ) -> tuple[KeyValueStore, int | None]:
        if spec.backend == "memory":
            return InMemoryStore(spec.name), None
        path = task_dir / spec.name
        had_data = (path / "CURRENT").exists()
        offset = offsets.get(topic) if topic else None
        if had_data and topic is not None and offset is None:
            log.warning(
                "task %s: store %s has no checkpoint; wiping it (%s) and restoring from %s",
                task_id,
                spec.name,
                path,
                topic,
            )
            RocksDBStore.destroy(path)
        elif not had_data and offset is not None:
            log.warning(
                "task %s: store %s is missing; restoring it in full from %s",
                task_id,
                spec.name,
                topic,
            )
            offset = None
        try:
            store = RocksDBStore(spec.name, path, self.resources)
        except StoreCorruptedError as exc:
            log.warning(
                "task %s: store %s is corrupt (%s); wiping %s and restoring from %s",
                task_id,
                spec.name,
                exc.cause,
                path,
                topic or "nothing (no changelog)",
            )
            RocksDBStore.destroy(path)
            store = RocksDBStore(spec.name, path, self.resources)
            offset = None
        return store, offset

    def wipe_task(self, task_id: str) -> None:
        shutil.rmtree(self.task_dir(task_id), ignore_errors=True)
