"""A task manager holding real tasks with real RocksDB stores, without a broker or clients.

For tests of what reads an instance's state from other threads (interactive queries, metrics):
the tasks, stores and locks are the runtime's own; only the Kafka side is absent.
"""

from __future__ import annotations

from pathlib import Path

from kstreamy import App
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task import Task
from kstreamy.runtime.task_clock import time_plan
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.state.resources import StoreResources
from kstreamy.state.state_manager import StateManager
from kstreamy.topic_plan import plan_topics
from kstreamy.windows import Session, Tumbling

MiB = 1024 * 1024


class _Discard:
    def emit(self, *args, **kwargs) -> None:
        pass


def counting_app(state_dir: Path) -> App:
    """Counts per word: in total, per minute (tumbling windows) and per session."""
    app = App("local-tasks", state_dir=str(state_dir))
    words = app.stream("words", key_serde="str", value_serde="str").group_by_key()
    words.count(store="counts").to("word-counts", value_serde="int")
    words.window(Tumbling(60.0)).count(store="per-minute")
    words.window(Session(30.0)).count(store="sessions")
    return app


def task_manager(app: App, partitions: int, local: list[int]) -> TaskManager:
    """The app's task manager with the tasks of ``local`` partitions open and active."""
    topology = app.topology
    topology.validate()
    metrics = Metrics()
    plan = plan_topics(topology, {t: partitions for t in topology.external_source_topics()})
    state_manager = StateManager(
        app.config.app_state_dir, app.application_id, StoreResources(8 * MiB, 8 * MiB)
    )
    tasks = TaskManager(
        topology, app.config, plan, state_manager, CommitManager(False, metrics), metrics
    )
    errors = RecordErrorHandler("fail", "fail", "dlq", _Discard(), metrics)
    for sub in topology.subtopologies():
        specs = {name: topology.stores[name] for name in sub.store_names}
        times = time_plan(topology, sub, plan.partitions.__getitem__, lambda t: plan.internal[t][0])
        for partition in local:
            state = None
            if specs:
                state, _ = state_manager.open(f"{sub.id}_{partition}", partition, specs)
            task = Task(sub, partition, _Discard(), errors, specs, state, times)
            task.open()
            tasks.tasks[task.id] = task
    return tasks


class Record:
    """An input record as a task reads it from ``confluent_kafka.Message``."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes, value: bytes) -> None:
        self._where = (topic, partition, offset)
        self._key, self._value = key, value

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def error(self) -> None:
        return None
