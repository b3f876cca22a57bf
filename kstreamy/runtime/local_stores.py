"""Read access to this instance's stores from threads other than the loop.

Interactive queries and the metrics collector run on their own threads, while the loop opens and
closes tasks (and their RocksDB databases) as partitions move. Readers go through here: they
see only active tasks (a restoring store is incomplete), they read the stores themselves (state
as of the last commit, never the task's uncommitted write buffer), and they hold the task
manager's ``store_lock`` for the duration of a read, under which tasks are closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from kstreamy.errors import KStreamyError
from kstreamy.runtime.task import task_id
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.state.errors import StoreClosedError
from kstreamy.state.store import KeyValueStore
from kstreamy.topology import StoreSpec, Topology


class StoreNotHere(KStreamyError):
    """The task holding the wanted partition of the store is not active in this instance."""

    def __init__(self, task: str, restoring: bool) -> None:
        self.task = task
        self.restoring = restoring
        state = "is restoring here" if restoring else "is not running here"
        super().__init__(f"task {task} {state}")


@dataclasses.dataclass(frozen=True)
class StoreSize:
    task: str
    store: str
    keys: int
    bytes: int | None


class LocalStores:
    def __init__(self, tasks: TaskManager) -> None:
        self._tasks = tasks
        self._subtopology_of: dict[str, int] = {
            name: sub.id for sub in tasks.topology.subtopologies() for name in sub.store_names
        }

    @property
    def topology(self) -> Topology:
        return self._tasks.topology

    def known(self) -> dict[str, StoreSpec]:
        """Every store of the topology, by name."""
        stores = self._tasks.topology.stores
        return {name: stores[name] for name in sorted(self._subtopology_of)}

    def spec(self, store: str) -> StoreSpec | None:
        if store not in self._subtopology_of:
            return None
        return self._tasks.topology.stores.get(store)

    def task_for(self, store: str, partition: int) -> str:
        return task_id(self._subtopology_of[store], partition)

    def partitions(self, store: str) -> int:
        """How many partitions (tasks) the store is split into."""
        return self._tasks.plan.partitions[self._subtopology_of[store]]

    def local_tasks(self, store: str) -> list[str]:
        """Ids of the active tasks of this instance that hold a partition of ``store``."""
        sub = self._subtopology_of[store]
        paused = self._tasks.paused
        active = list(self._tasks.tasks.values())
        return sorted(t.id for t in active if t.subtopology.id == sub and t.id not in paused)

    @contextlib.contextmanager
    def reading(self, store: str, task: str) -> Iterator[KeyValueStore]:
        """The committed store of an active local task, kept open while the block runs.

        Raises :class:`StoreNotHere` when the task is elsewhere or still restoring.
        """
        tasks = self._tasks
        with tasks.store_lock:
            found = tasks.tasks.get(task)
            if found is None or found.state is None or task in tasks.paused:
                raise StoreNotHere(task, restoring=found is not None and task in tasks.paused)
            try:
                yield found.state.stores[store]
            except StoreClosedError:
                raise StoreNotHere(task, restoring=False) from None

    def sizes(self) -> list[StoreSize]:
        """Approximate keys and bytes per store of every active task (for metrics)."""
        sizes = []
        for store in sorted(self._subtopology_of):
            for task in self.local_tasks(store):
                try:
                    with self.reading(store, task) as kv:
                        size = getattr(kv, "approximate_size_bytes", None)
                        sizes.append(
                            StoreSize(task, store, kv.approximate_count(), size() if size else None)
                        )
                except KStreamyError:
                    continue  # moved or closed since the list was taken
        return sizes
