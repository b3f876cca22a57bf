"""The instance side of a live savepoint: snapshot each task at a commit boundary, then hold it.

A savepoint request on the control topic (see :mod:`kstreamy.runtime.control_topic`) is served one
task at a time, right after a successful commit, when the task's positions equal its committed
offsets and its stores hold exactly the committed state. The task is then *held*: it gets no
more records or time until the request is over, so the snapshot is where it stands.

Global consistency across repartition topics: a task that reads a repartition topic is
snapshotted only when every task writing that topic is held (the topic is *sealed*) and it has
read the topic to its end. So no record is in flight at the cut: everything written before the
writers' snapshots is in the readers' snapshots, nothing written after exists. Tasks reading
only user topics (the roots) are snapshotted at once; the others follow as their inputs seal.

When the request is done the held tasks resume where they stood; with ``stop`` and a complete
savepoint the instance stops instead, having processed nothing after its snapshots. A request
whose deadline passes without a ``done`` is dropped and the tasks resume.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import admin_settings, create_client
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.commit_sequence import CommitOutcome, CommitResult
from kstreamy.runtime.control_topic import INSTANCE_FETCH_WAIT_MS, ControlChannel
from kstreamy.runtime.task import Task, task_id
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.savepoint.format import FileRef
from kstreamy.savepoint.snapshot import write_sst
from kstreamy.savepoint.storage import open_storage
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.savepoint")

FORCED_COMMIT_INTERVAL_S = 0.2
"""While a request waits for tasks of this instance, commit at least this often."""


@dataclasses.dataclass
class _Request:
    id: str
    location: str
    stop: bool
    deadline: float
    acked: set[str] = dataclasses.field(default_factory=set)
    """Tasks whose snapshot any instance acknowledged."""
    held: set[str] = dataclasses.field(default_factory=set)
    """Tasks this instance holds for the request."""


class SavepointHook:
    def __init__(
        self,
        topology: Topology,
        config: AppConfig,
        tasks: TaskManager,
        commits: CommitManager,
        instance_id: str,
        stop: Callable[[], None],
    ) -> None:
        self.config = config
        self.tasks = tasks
        self.commits = commits
        self.instance_id = instance_id
        self._stop = stop
        plan = tasks.plan
        internal = topology.internal_topics()
        self._writers: dict[str, list[str]] = {}
        """Repartition topic -> every task (of every sub-topology) writing it."""
        self._reads: dict[int, list[str]] = {}
        """Sub-topology -> the repartition topics it reads."""
        for sub in topology.subtopologies():
            self._reads[sub.id] = [t for t in sub.source_topics if internal.get(t)]
            for node in sub.nodes:
                if node.kind == "sink" and node.params.get("internal"):
                    self._writers.setdefault(node.params["topic"], []).extend(
                        task_id(sub.id, p) for p in range(plan.partitions[sub.id])
                    )
        self._channel: ControlChannel | None = None
        self._probe: Consumer | None = None
        self._requests: dict[str, _Request] = {}
        self._finished: set[str] = set()
        self._next_forced = 0.0
        self._snapshots = 0

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Create the control topic if needed and learn about requests still open."""
        channel = ControlChannel(self.config, INSTANCE_FETCH_WAIT_MS)
        channel.ensure_topic()
        channel.seek(None)
        self._channel = channel
        for record in channel.read_backlog():
            self._handle(record, backlog=True)
        if self._requests:
            log.info("savepoint request(s) open at start: %s", ", ".join(self._requests))

    def close(self) -> None:
        for closeable in (self._channel, self._probe):
            if closeable is not None:
                try:
                    closeable.close()
                except Exception as exc:
                    log.debug("closing savepoint hook client: %s", exc)
        self._channel = self._probe = None

    # -- called by the instance loop -------------------------------------------------------

    def poll(self) -> bool:
        """Read new control records; True when a commit should happen now for a request."""
        channel = self._channel
        if channel is None:
            return False
        for record in channel.poll():
            self._handle(record)
        if not self._requests:
            return False
        now = time.time()
        for request in list(self._requests.values()):
            if now > request.deadline:
                log.warning("savepoint %s: deadline passed without an answer; resuming", request.id)
                self._end(request, stop=False)
        pending = any(self._waiting(r) for r in self._requests.values())
        if pending and time.monotonic() >= self._next_forced:
            self._next_forced = time.monotonic() + FORCED_COMMIT_INTERVAL_S
            return True
        return False

    def after_commit(self, result: CommitResult) -> None:
        """The commit boundary: snapshot the tasks whose turn it is, then hold them."""
        if not self._requests or result.outcome not in (
            CommitOutcome.COMMITTED,
            CommitOutcome.CHECKPOINT_STALE,
        ):
            return
        for request in list(self._requests.values()):
            for task in self._waiting(request):
                if self._sealed(request, task) and self._caught_up(task):
                    self._snapshot(request, task)

    def tasks_changed(self) -> None:
        """A task became active here: hold it at once if it was snapshotted elsewhere."""
        for request in self._requests.values():
            request.held &= set(self.tasks.tasks)
            for task in self.tasks.active():
                if task.id in request.acked and task.id not in request.held:
                    self._hold(request, task)

    # -- requests --------------------------------------------------------------------------

    def _handle(self, record: dict[str, Any], backlog: bool = False) -> None:
        kind, rid = record.get("type"), str(record.get("id", ""))
        if kind == "savepoint":
            if rid not in self._finished and float(record.get("deadline", 0)) > time.time():
                self._requests[rid] = _Request(
                    rid, str(record["location"]), bool(record.get("stop")), record["deadline"]
                )
                if not backlog:
                    log.info("savepoint %s requested (stop: %s)", rid, bool(record.get("stop")))
        elif kind == "ack" and rid in self._requests:
            self._requests[rid].acked.add(str(record.get("task")))
        elif kind == "done":
            self._finished.add(rid)
            request = self._requests.get(rid)
            if request is not None and backlog:
                del self._requests[rid]  # over before this instance started
            elif request is not None:
                complete = record.get("outcome") == "complete"
                log.info("savepoint %s %s", rid, "complete" if complete else "aborted")
                self._end(request, stop=complete and request.stop)
        elif kind == "ping" and not backlog and self._channel is not None:
            self._channel.send(
                {
                    "type": "pong",
                    "id": rid,
                    "instance": self.instance_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "state_dir": str(self.config.app_state_dir),
                    "tasks": sorted(self.tasks.tasks),
                }
            )

    def _end(self, request: _Request, stop: bool) -> None:
        del self._requests[request.id]
        if stop:
            self._stop()
            return
        still_held = {t for r in self._requests.values() for t in r.held}
        for tid in request.held - still_held:
            task = self.tasks.tasks.get(tid)
            if task is not None:
                self.tasks.unsuspend(task)

    def _waiting(self, request: _Request) -> list[Task]:
        return [
            t for t in self.tasks.active() if t.id not in request.acked and t.id not in request.held
        ]

    def _sealed(self, request: _Request, task: Task) -> bool:
        return all(
            set(self._writers.get(topic, ())) <= request.acked
            for topic in self._reads.get(task.subtopology.id, ())
        )

    def _position(self, task: Task, topic: str) -> int | None:
        if topic in task.positions:
            return task.positions[topic]
        committed = self.commits.committed.get((topic, task.partition))
        if committed is not None:
            return committed
        consumer = self.tasks.group_consumer()
        if consumer is None:
            return None
        found = consumer.committed([TopicPartition(topic, task.partition)], 30)[0].offset
        return found if found >= 0 else None

    def _caught_up(self, task: Task) -> bool:
        """Whether the task has read each sealed repartition input to its end (from a fetch)."""
        for topic in self._reads.get(task.subtopology.id, ()):
            position = self._position(task, topic)
            probe = self._probe_consumer()
            start = OFFSET_BEGINNING if position is None else position
            probe.assign([TopicPartition(topic, task.partition, start)])
            try:
                deadline = time.monotonic() + 5.0
                at_end = False
                while not at_end and time.monotonic() < deadline:
                    messages = probe.consume(1, 0.2)
                    if messages and messages[0].error() is None:
                        return False
                    at_end = bool(messages) and messages[0].error().code() == (
                        KafkaError._PARTITION_EOF
                    )
                if not at_end:
                    return False
            finally:
                probe.unassign()
        return True

    def _probe_consumer(self) -> Consumer:
        if self._probe is None:
            settings = {
                **admin_settings(self.config),
                "group.id": f"{self.config.application_id}-savepoint-probe",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 50,
            }
            if self.config.processing_guarantee == "exactly_once":
                settings["isolation.level"] = "read_committed"
            self._probe = create_client(Consumer, settings, "consumer")
        return self._probe

    def _snapshot(self, request: _Request, task: Task) -> None:
        started = time.monotonic()
        storage = open_storage(request.location)
        self._snapshots += 1
        staging = f".staging/{request.id}/{task.id}-{self.instance_id}-{self._snapshots}"
        stores: dict[str, FileRef] = {}
        state = task.state
        if state is not None:
            for name, store in state.stores.items():
                rel = f"{staging}/{name}.sst"
                stores[name] = write_sst(store.items(), storage.local_path(rel), rel)
        ack = {
            "type": "ack",
            "id": request.id,
            "task": task.id,
            "instance": self.instance_id,
            "stores": {name: dataclasses.asdict(ref) for name, ref in stores.items()},
            "input_offsets": {
                topic: self._position(task, topic) for topic in task.subtopology.source_topics
            },
            "changelog_offsets": dict(state.changelog_offsets) if state is not None else {},
            "metadata": dict(state.metadata) if state is not None else {},
        }
        self._hold(request, task)
        assert self._channel is not None
        self._channel.send(ack)
        request.acked.add(task.id)
        log.info(
            "savepoint %s: task %s snapshotted (%d entries) in %.2fs",
            request.id,
            task.id,
            sum(ref.entries for ref in stores.values()),
            time.monotonic() - started,
        )

    def _hold(self, request: _Request, task: Task) -> None:
        if not any(task.id in r.held for r in self._requests.values()):
            self.tasks.suspend(task)
        request.held.add(task.id)
