"""Which tasks run here: group callbacks, task creation and close, restoration hand-off.

Co-partitioning without giving up cooperative rebalancing: the consumer group subscribes to one
*lead* topic per sub-topology. When a task's lead partition is assigned, the same partition of
the sub-topology's other input topics is assigned to a second, group-less consumer of this
instance, and their offsets are committed through the group consumer with the lead's. So the
partitions of a task always live in one instance, and the cooperative-sticky assignor still
moves only the partitions that change owner.

A task with stores first restores them from the changelogs while its lead partition is paused;
other tasks keep running meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from kstreamy.config import AppConfig
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.instance_clients import InstanceClients
from kstreamy.runtime.memory_release import release_free_memory
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.task import Task, task_id
from kstreamy.runtime.task_clock import time_plan
from kstreamy.runtime.tracing import NO_TRACING, Tracing
from kstreamy.state.state_manager import StateManager
from kstreamy.topic_plan import TopicPlan
from kstreamy.topology import SubTopology, Topology

log = logging.getLogger("kstreamy.tasks")


class TaskManager:
    def __init__(
        self,
        topology: Topology,
        config: AppConfig,
        plan: TopicPlan,
        state_manager: StateManager,
        commits: CommitManager,
        metrics: Metrics,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.topology = topology
        self.config = config
        self.plan = plan
        self.state_manager = state_manager
        self.commits = commits
        self.metrics = metrics
        self.tracing = tracing
        self.sub_of_lead: dict[str, SubTopology] = {
            plan.lead_topic[sub.id]: sub for sub in topology.subtopologies()
        }
        self.tasks: dict[str, Task] = {}
        self.routes: dict[tuple[str, int], Task] = {}
        """(topic, partition) -> the active task reading it."""
        self.paused: dict[str, TopicPartition] = {}
        """Task id -> its paused lead partition while the task restores."""
        self.timed: list[Task] = []
        """Active tasks with nodes that watch time (see the time hook)."""
        self.on_change: Callable[[], None] = lambda: None
        """Called when the set of tasks or their states change (the status report uses it)."""
        self.before_revoke: Callable[[], bool] = lambda: True
        """Commit before partitions are handed over; False when the commit did not succeed."""
        self.before_lost: Callable[[set[str]], None] = lambda lost: None
        """Partitions were lost: abort the open transaction and rewind the other tasks."""
        self._clients: InstanceClients | None = None
        self.store_lock = threading.Lock()
        """Readers on other threads (interactive queries, metrics) hold it while they use a
        task's stores; a task's stores are closed under it, never in the middle of a read."""

    def bind(self, clients: InstanceClients) -> None:
        self._clients = clients

    @property
    def lead_topics(self) -> list[str]:
        return sorted(self.sub_of_lead)

    def active(self) -> list[Task]:
        """Tasks that process records (restoring tasks are not committed)."""
        return [t for tid, t in self.tasks.items() if tid not in self.paused]

    def buffered(self) -> int:
        return sum(t.state.pending_count for t in self.tasks.values() if t.state is not None)

    # -- task life cycle -------------------------------------------------------------------

    def _create(self, sub: SubTopology, partition: int) -> Task:
        clients = self._clients
        assert clients is not None
        tid = task_id(sub.id, partition)
        specs = {name: self.topology.stores[name] for name in sub.store_names}
        times = time_plan(
            self.topology, sub, self.plan.partitions.__getitem__, self._repartition_partitions
        )
        emitter = self.tracing.emitter(clients.emitter)
        outputs = self.plan.outputs
        if not specs:
            return Task(sub, partition, emitter, clients.errors, None, None, times, outputs)
        state, restore_plan = self.state_manager.open(tid, partition, specs)
        task = Task(sub, partition, emitter, clients.errors, specs, state, times, outputs)
        clients.restorer.add(task, restore_plan)
        return task

    def _repartition_partitions(self, topic: str) -> int:
        return self.plan.internal[topic][0]

    def activate(self, task: Task) -> None:
        """The task's stores are ready: open it and start reading all its input partitions."""
        clients = self._clients
        assert clients is not None
        task.open()
        sub_id = task.subtopology.id
        lead = self.plan.lead_topic[sub_id]
        self.routes[(lead, task.partition)] = task
        paused = self.paused.pop(task.id, None)
        if paused is not None:
            clients.consumer.resume([paused])
        others = self.plan.copartitioned[sub_id]
        if others:
            assert clients.secondary is not None
            clients.secondary.incremental_assign(
                [TopicPartition(t, task.partition) for t in others]
            )
            for topic in others:
                self.routes[(topic, task.partition)] = task
        if task.has_time_listeners:
            self.timed.append(task)
        log.info("task %s running", task.id)
        self.on_change()

    def close(self, task: Task, clean: bool = True) -> None:
        """Stop a task; ``clean`` means its last commit succeeded (else its buffer is dropped)."""
        self.tasks.pop(task.id, None)
        self.paused.pop(task.id, None)
        if task in self.timed:
            self.timed.remove(task)
        clients = self._clients
        if clients is not None:
            clients.restorer.remove(task.id)
        others = self.plan.copartitioned[task.subtopology.id]
        for topic in [self.plan.lead_topic[task.subtopology.id], *others]:
            self.routes.pop((topic, task.partition), None)
            self.commits.forget(topic, task.partition)
        if others and clients is not None and clients.secondary is not None:
            try:
                clients.secondary.incremental_unassign(
                    [TopicPartition(t, task.partition) for t in others]
                )
            except KafkaException as exc:
                log.debug("unassigning co-partitioned inputs of %s: %s", task.id, exc)
        if not clean:
            task.discard()
        try:
            with self.store_lock:
                if clean and task.state is not None:
                    task.state.write_checkpoint(force=True)  # a restart restores nothing
                task.close()
        except Exception as exc:
            log.warning("closing task %s: %s", task.id, exc)

    def close_all(self, clean: bool = True) -> None:
        for task in list(self.tasks.values()):
            self.close(task, clean)

    def rebuild(
        self, task_ids: list[str], reason: str = "local state is behind its changelog"
    ) -> None:
        """Throw the local state of these tasks away and restore it from the changelogs, then
        go on from the committed offsets: their commit stood but their stores missed it, or a
        store turned out to be corrupt."""
        for tid in task_ids:
            task = self.tasks.get(tid)
            if task is None:
                continue
            log.warning("task %s: %s; rebuilding it", tid, reason)
            lead = self.plan.lead_topic[task.subtopology.id]
            self.close(task, clean=False)
            self.state_manager.wipe_task(tid)
            self._start(TopicPartition(lead, task.partition), rewind=True)

    def rewind(self, task: Task) -> None:
        """Go back to the last committed input offsets of ``task`` (its buffer is dropped)."""
        clients = self._clients
        assert clients is not None
        sub_id = task.subtopology.id
        lead = self.plan.lead_topic[sub_id]
        for topic in [lead, *self.plan.copartitioned[sub_id]]:
            consumer = clients.consumer if topic == lead else clients.secondary
            assert consumer is not None
            offset = self.commits.committed.get((topic, task.partition))
            if offset is None:
                committed = clients.consumer.committed([TopicPartition(topic, task.partition)], 30)
                offset = committed[0].offset
            if offset < 0:
                earliest = self.config.auto_offset_reset == "earliest"
                offset = OFFSET_BEGINNING if earliest else OFFSET_END
            task.positions.pop(topic, None)
            try:
                consumer.seek(TopicPartition(topic, task.partition, offset))
            except KafkaException as exc:
                log.warning("rewinding %s[%d]: %s", topic, task.partition, exc)

    def suspend(self, task: Task) -> None:
        """Hold an active task where it stands: no records, no time (a savepoint holds it at
        its snapshot). Records already fetched for it are dropped and read again later."""
        clients = self._clients
        sub_id = task.subtopology.id
        lead, others = self.plan.lead_topic[sub_id], self.plan.copartitioned[sub_id]
        for topic in [lead, *others]:
            self.routes.pop((topic, task.partition), None)
        if task in self.timed:
            self.timed.remove(task)
        if clients is not None:
            clients.consumer.pause([TopicPartition(lead, task.partition)])
            if others and clients.secondary is not None:
                clients.secondary.pause([TopicPartition(t, task.partition) for t in others])
        log.info("task %s held", task.id)

    def unsuspend(self, task: Task) -> None:
        """Undo :meth:`suspend`: the task reads on from its positions."""
        clients = self._clients
        if clients is None or self.tasks.get(task.id) is not task:
            return
        sub_id = task.subtopology.id
        lead, others = self.plan.lead_topic[sub_id], self.plan.copartitioned[sub_id]
        for topic in [lead, *others]:
            self.routes[(topic, task.partition)] = task
        if task.has_time_listeners and task not in self.timed:
            self.timed.append(task)
        if all(topic in task.positions for topic in [lead, *others]):
            for topic in [lead, *others]:
                consumer = clients.consumer if topic == lead else clients.secondary
                assert consumer is not None
                consumer.seek(TopicPartition(topic, task.partition, task.positions[topic]))
        else:
            self.rewind(task)
        clients.consumer.resume([TopicPartition(lead, task.partition)])
        if others and clients.secondary is not None:
            clients.secondary.resume([TopicPartition(t, task.partition) for t in others])
        log.info("task %s resumed", task.id)

    def group_consumer(self) -> Consumer | None:
        return self._clients.consumer if self._clients is not None else None

    def not_routed(self, message: Any) -> None:
        """A record for a task that is not active: rewind if it is restoring, else drop it."""
        clients = self._clients
        assert clients is not None
        for tid, paused in self.paused.items():
            if (paused.topic, paused.partition) == (message.topic(), message.partition()):
                clients.consumer.seek(
                    TopicPartition(paused.topic, paused.partition, message.offset())
                )
                log.debug("task %s still restoring; rewound %s", tid, paused)
                return

    def _start(self, tp: TopicPartition, rewind: bool = False) -> bool:
        """Create the task of a lead partition; True when it must restore first (paused)."""
        clients = self._clients
        assert clients is not None
        task = self._create(self.sub_of_lead[tp.topic], tp.partition)
        self.tasks[task.id] = task
        if clients.restorer.restoring(task.id):
            self.paused[task.id] = TopicPartition(tp.topic, tp.partition)
            if rewind:
                self.rewind(task)
                clients.consumer.pause([self.paused[task.id]])
            return True
        self.activate(task)
        if rewind:
            self.rewind(task)
        return False

    # -- group membership ------------------------------------------------------------------

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        to_pause = [
            self.paused[task_id(self.sub_of_lead[tp.topic].id, tp.partition)]
            for tp in partitions
            if self._start(tp)
        ]
        if to_pause:
            consumer.pause(to_pause)
        if partitions:
            self.metrics.rebalances += 1
            log.info("assigned: %s", _names(partitions))
            self.on_change()

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        clean = self.before_revoke()  # under exactly-once: the open transaction commits first
        for tp in partitions:
            task = self.tasks.get(task_id(self.sub_of_lead[tp.topic].id, tp.partition))
            if task is not None:
                self.close(task, clean)
        if partitions:
            self.metrics.rebalances += 1
            log.info("revoked: %s", _names(partitions))
            release_free_memory()
            self.on_change()

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {task_id(self.sub_of_lead[tp.topic].id, tp.partition) for tp in partitions}
        self.before_lost(lost)
        for tp in partitions:
            task = self.tasks.get(task_id(self.sub_of_lead[tp.topic].id, tp.partition))
            if task is not None:
                self.close(task, clean=False)
        if partitions:
            self.metrics.rebalances += 1
            log.warning("lost without commit: %s", _names(partitions))
            release_free_memory()
            self.on_change()


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
