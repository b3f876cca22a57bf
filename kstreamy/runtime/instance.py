"""One running instance of an application: a consumer-group member and its tasks.

The loop polls a batch, hands each record to the task owning its partition, and commits on an
interval through :class:`~kstreamy.state.commit_order.CommitSequence`: outputs and changelog
records are acknowledged before the input offsets that produced them are committed, and only
then are buffered state writes applied and checkpoints written. A crash may repeat output under
at-least-once, but never loses input.

Co-partitioning without giving up cooperative rebalancing: the consumer group subscribes to one
*lead* topic per sub-topology. When a task's lead partition is assigned, the same partition of
the sub-topology's other input topics is assigned to a second, group-less consumer of this
instance, and their offsets are committed through the group consumer with the lead's. So the
partitions of a task always live in one instance, and the cooperative-sticky assignor still
moves only the partitions that change owner.

Exactly-once: one transactional producer per instance (``transactional.id`` =
``<app_id>-<instance id kept in state_dir>``) and ``read_committed`` consumers. Each commit is one
transaction with the outputs, the changelog records and the input offsets; buffered state is
applied to the stores only after it commits. An abortable error aborts it and rewinds every task
to its last committed offsets and state; a fatal one (a fenced producer) drops the tasks without
committing, and the instance builds new clients and rejoins.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from kstreamy.errors import KStreamyError, RecordError
from kstreamy.runtime.changelog import ChangelogWriter
from kstreamy.runtime.clients import (
    consumer_settings,
    create_admin,
    create_client,
    producer_settings,
)
from kstreamy.runtime.identity import instance_id
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.producer import KafkaEmitter
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.restore import Restorer
from kstreamy.runtime.shutdown import stop_on_signals
from kstreamy.runtime.state_lock import StateDirLock
from kstreamy.runtime.state_manager import StateManager
from kstreamy.runtime.status import status_path, write_status
from kstreamy.runtime.task import Task, task_id
from kstreamy.runtime.topic_plan import TopicPlan, plan_topics
from kstreamy.runtime.topics import ensure_topic, partition_counts, require_topics
from kstreamy.runtime.transactions import (
    AbortableTransactionError,
    FatalTransactionError,
    Transactions,
)
from kstreamy.state.commit_order import CommitSequence
from kstreamy.state.resources import StoreResources
from kstreamy.topology import SubTopology

if TYPE_CHECKING:
    from kstreamy.app import App

log = logging.getLogger("kstreamy.instance")

# Commit errors after which the group has moved on: the records will be processed again by the
# new owner, which at-least-once allows.
_RETRIABLE_COMMIT_ERRORS = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
}


class Instance:
    def __init__(self, app: App, install_signal_handlers: bool = True) -> None:
        self.app = app
        self.config = app.config
        self.metrics = Metrics()
        self._install_signal_handlers = install_signal_handlers
        self._stop_requested = threading.Event()
        self._subs: dict[int, SubTopology] = {s.id: s for s in app.topology.subtopologies()}
        self._plan: TopicPlan | None = None
        self._sub_of_lead: dict[str, SubTopology] = {}
        self._tasks: dict[str, Task] = {}
        self._routes: dict[tuple[str, int], Task] = {}
        """(topic, partition) -> the active task reading it."""
        self._paused: dict[str, TopicPartition] = {}
        """Task id -> its paused lead partition while the task restores."""
        self._committed: dict[tuple[str, int], int] = {}
        self._consumer: Consumer | None = None
        self._secondary: Consumer | None = None
        self._emitter: KafkaEmitter | None = None
        self._changelog: ChangelogWriter | None = None
        self._errors: RecordErrorHandler | None = None
        self._restorer: Restorer | None = None
        self._state_manager = StateManager(
            self.config.app_state_dir,
            self.config.application_id,
            StoreResources(self.config.state_cache_bytes, self.config.state_write_buffer_bytes),
        )
        self._status_path = status_path(self.config.app_state_dir)
        self._state = "starting"
        self._eos = self.config.processing_guarantee == "exactly_once"
        self._txn: Transactions | None = None
        self._needs_rejoin = False
        self.instance_id = instance_id(self.config.app_state_dir, self.config.instance_id)

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and leave the group; safe from any thread."""
        self._stop_requested.set()

    def run(self) -> None:
        self.app.topology.validate()
        lock = StateDirLock(self.config.app_state_dir)
        lock.acquire()
        try:
            self._plan = self._prepare_topics()
            for sub in self._subs.values():
                self._sub_of_lead[self._plan.lead_topic[sub.id]] = sub
            with stop_on_signals(self._stop_requested, self._install_signal_handlers):
                self._run_until_stopped()
        finally:
            lock.release()

    def _run_until_stopped(self) -> None:
        topology = self.app.topology
        try:
            self._start_clients()
            log.info(
                "instance %s of %s started on %s (%s, reading %s)",
                self.instance_id,
                self.config.application_id,
                self.config.bootstrap_servers,
                self.config.processing_guarantee,
                ", ".join(topology.source_topics()),
            )
            self._state = "running"
            self._write_status()
            self._loop()
            self._commit()
            self._state = "stopped"
        except RecordError as exc:
            # Keep the progress made before the failing record; its own offset stays uncommitted.
            self._commit_quietly()
            self._state = "failed"
            self._error = f"{type(exc).__name__}: {exc}"
            raise
        except BaseException as exc:
            self._state = "failed"
            self._error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._close()
            self._write_status()

    def _start_clients(self) -> None:
        """Producer(s), consumers and the group subscription; again after a fatal error."""
        assert self._plan is not None
        settings = producer_settings(self.config)
        if self._eos:
            settings["transactional.id"] = f"{self.config.application_id}-{self.instance_id}"
        self._emitter = KafkaEmitter(settings, transactional=self._eos)
        if self._eos:
            self._txn = Transactions(self._emitter.producer)
        if self.app.topology.stores:
            self._changelog = (
                ChangelogWriter(self._emitter.producer)
                if self._eos
                else ChangelogWriter.own_producer(settings)
            )
        self._errors = RecordErrorHandler(
            self.config.on_deserialization_error,
            self.config.on_processing_error,
            self.config.dead_letter_topic_name,
            self._emitter,
            self.metrics,
        )
        consumer = consumer_settings(self.config)
        self._consumer = create_client(Consumer, consumer, "consumer")
        self._restorer = Restorer(consumer)
        if any(self._plan.copartitioned.values()):
            self._secondary = create_client(Consumer, consumer, "consumer")
        self._consumer.subscribe(
            sorted(self._sub_of_lead),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _rejoin(self) -> None:
        """After a fatal producer error: drop every task uncommitted, new clients, rejoin."""
        log.warning("producer fenced or failed fatally: dropping tasks and rejoining the group")
        self._needs_rejoin = False
        for task in list(self._tasks.values()):
            self._close_task(task, clean=False)
        self._close_clients()
        self._start_clients()

    def _prepare_topics(self) -> TopicPlan:
        admin = create_admin(self.config)
        topology = self.app.topology
        existing = partition_counts(admin)
        counts = require_topics(
            existing, topology.external_source_topics(), self.config.bootstrap_servers
        )
        plan = plan_topics(topology, counts)
        replication = self.config.internal_topic_replication_factor
        for topic, (partitions, topic_config) in plan.internal.items():
            ensure_topic(admin, existing, topic, partitions, replication, topic_config)
        policies = (self.config.on_deserialization_error, self.config.on_processing_error)
        if "dead_letter" in policies:
            ensure_topic(
                admin,
                existing,
                self.config.dead_letter_topic_name,
                max(plan.partitions.values()),
                replication,
                exact_partitions=False,
            )
        return plan

    def _close(self) -> None:
        for task in list(self._tasks.values()):
            self._close_task(task)
        self._close_clients()
        log.info(
            "instance stopped: %d records processed, %d skipped, %d dead-lettered",
            self.metrics.records_processed,
            self.metrics.records_skipped,
            self.metrics.records_dead_lettered,
        )

    def _close_clients(self) -> None:
        if self._restorer is not None:
            self._restorer.close()
        self._needs_rejoin = True  # the group consumer's close must not commit
        for consumer in (self._consumer, self._secondary):
            if consumer is not None:
                try:
                    consumer.close()
                except (KafkaException, RuntimeError) as exc:
                    log.warning("consumer close failed: %s", exc)
        self._consumer = self._secondary = None
        self._needs_rejoin = False
        if self._txn is not None:
            try:
                self._txn.abort()
            except Exception as exc:
                log.debug("abort on close: %s", exc)
            self._txn = None
        if self._emitter is not None:
            self._emitter.producer.flush(10)
        self._committed.clear()

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        batch_size = self.config.poll_batch_size
        timeout = self.config.poll_timeout_ms / 1000
        interval = self.config.effective_commit_interval_ms / 1000
        max_buffered = self.config.state_buffer_max_records
        stateful = bool(self.app.topology.stores)
        next_commit = time.monotonic() + interval
        while not self._stop_requested.is_set():
            if self._needs_rejoin:
                self._rejoin()
            consumer, emitter, restorer = self._consumer, self._emitter, self._restorer
            assert consumer is not None and emitter is not None and restorer is not None
            if restorer.busy:
                for task in restorer.step(batch_size * 5):
                    self._activate(task)

            messages = consumer.consume(batch_size, 0 if restorer.busy else timeout)
            self._process(messages)
            if self._secondary is not None and self._secondary.assignment():
                self._process(self._secondary.consume(batch_size, 0))
            emitter.poll()
            if self._status_due or restorer.busy:
                self._write_status_throttled()
            now = time.monotonic()
            if now >= next_commit or (stateful and self._buffered() >= max_buffered):
                self._commit()
                next_commit = time.monotonic() + interval

    def _process(self, messages: list[Any]) -> None:
        if not messages:
            return
        if self._txn is not None:
            # Begun here, after the poll: a rebalance callback inside the poll may have just
            # committed the previous transaction.
            self._txn.begin()
        routes = self._routes
        # A batch holds runs of records of one partition: look the task up once per run.
        last_topic, last_partition, task = None, -1, None
        unrouted: set[tuple[str, int]] = set()
        for message in messages:
            if message.error() is not None:
                self._on_consume_error(message.error())
                continue
            topic = message.topic()
            partition = message.partition()
            if partition != last_partition or topic != last_topic:
                last_topic, last_partition = topic, partition
                task = routes.get((topic, partition))
            if task is None:
                if (topic, partition) not in unrouted:  # only the first record of the run
                    unrouted.add((topic, partition))
                    self._not_routed(message)
                continue
            task.process(message, topic)
        self.metrics.records_processed += len(messages)

    def _not_routed(self, message: Any) -> None:
        """A record for a task that is not active: rewind if it is restoring, else drop it."""
        for tid, paused in self._paused.items():
            if (paused.topic, paused.partition) == (message.topic(), message.partition()):
                assert self._consumer is not None
                self._consumer.seek(
                    TopicPartition(paused.topic, paused.partition, message.offset())
                )
                log.debug("task %s still restoring; rewound %s", tid, paused)
                return

    def _buffered(self) -> int:
        return sum(t.state.pending_count for t in self._tasks.values() if t.state is not None)

    def _on_consume_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal() or error.code() in (
            KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError.GROUP_AUTHORIZATION_FAILED,
        ):
            raise KStreamyError(f"consumer failed: {error.str()}")
        log.warning("consumer error (will retry): %s", error.str())

    # -- commits -----------------------------------------------------------------------------

    def _commit(self) -> None:
        """One commit of every active task, in the order CommitSequence owns."""
        if self._needs_rejoin:
            return  # a fatal error already dropped the tasks; nothing may be committed
        tasks = [t for tid, t in self._tasks.items() if tid not in self._paused]
        states = [t.state for t in tasks if t.state is not None]
        commit = self._commit_transaction if self._eos else self._flush_and_commit_offsets
        try:
            CommitSequence(
                # Outputs and changelog records are flushed together in the commit step below.
                flush_sinks=lambda: None,
                produce_changelogs=lambda: self._produce_changelogs(tasks),
                commit_transaction_and_offsets=lambda: commit(tasks),
                apply_state=lambda: [s.apply() for s in states],
                write_checkpoints=lambda: [s.write_checkpoint() for s in states],
                abort=lambda: [s.discard() for s in states],
            ).run()
        except AbortableTransactionError as exc:
            log.warning("transaction aborted (%s); rewinding tasks to their last commit", exc)
            self._abort_and_rewind(tasks)
        except FatalTransactionError as exc:
            log.error("%s", exc)
            for task in list(self._tasks.values()):
                self._close_task(task, clean=False)
            self._needs_rejoin = True

    def _commit_transaction(self, tasks: list[Task]) -> None:
        assert self._emitter is not None and self._consumer is not None
        assert self._txn is not None
        # Flushing first serves the changelog delivery reports (their offsets feed checkpoints).
        self._emitter.producer.flush()
        offsets = self._offsets_to_commit(tasks)
        self._txn.commit(offsets, self._consumer.consumer_group_metadata())
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        self.metrics.commits += 1
        self._status_due = True  # written by the loop at most once a second

    def _offsets_to_commit(self, tasks: list[Task]) -> list[TopicPartition]:
        offsets = []
        for task in tasks:
            for topic, position in task.positions.items():
                if self._committed.get((topic, task.partition)) != position:
                    offsets.append(TopicPartition(topic, task.partition, position))
        return offsets

    def _abort_and_rewind(self, tasks: list[Task]) -> None:
        """Abort the open transaction; every task goes back to its last committed input
        offsets, and its buffered state writes are dropped (the stores hold committed state)."""
        assert self._txn is not None
        try:
            self._txn.abort()
        except AbortableTransactionError:
            pass
        except FatalTransactionError as exc:
            log.error("%s", exc)
            self._needs_rejoin = True
            return
        for task in tasks:
            if task.state is not None:
                task.state.discard()
            self._rewind(task)

    def _rewind(self, task: Task) -> None:
        assert self._plan is not None and self._consumer is not None
        sub_id = task.subtopology.id
        lead = self._plan.lead_topic[sub_id]
        for topic in [lead, *self._plan.copartitioned[sub_id]]:
            consumer = self._consumer if topic == lead else self._secondary
            assert consumer is not None
            offset = self._committed.get((topic, task.partition))
            if offset is None:
                committed = self._consumer.committed([TopicPartition(topic, task.partition)], 30)
                offset = committed[0].offset
            if offset < 0:
                earliest = self.config.auto_offset_reset == "earliest"
                offset = OFFSET_BEGINNING if earliest else OFFSET_END
            task.positions.pop(topic, None)
            try:
                consumer.seek(TopicPartition(topic, task.partition, offset))
            except KafkaException as exc:
                log.warning("rewinding %s[%d]: %s", topic, task.partition, exc)

    def _produce_changelogs(self, tasks: list[Task]) -> None:
        writer = self._changelog
        for task in tasks:
            if task.state is None:
                continue
            assert writer is not None
            record_offset = task.state.record_changelog_offset
            for topic, key, value in task.state.changelog_records():
                writer.write(topic, task.partition, key, value, record_offset)

    def _flush_and_commit_offsets(self, tasks: list[Task]) -> None:
        assert self._emitter is not None and self._consumer is not None
        self._emitter.flush()
        if self._changelog is not None:
            self._changelog.flush()
        offsets = self._offsets_to_commit(tasks)
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() in _RETRIABLE_COMMIT_ERRORS:
                # The outputs and changelog records are delivered, so applying the state stays
                # consistent with the changelog; the records will be processed again.
                log.warning("offset commit skipped (group rebalancing): %s", exc)
                return
            raise KStreamyError(f"offset commit failed: {exc}") from exc
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        self.metrics.commits += 1
        self._status_due = True  # written by the loop at most once a second

    def _commit_quietly(self) -> None:
        try:
            self._commit()
        except Exception as exc:
            log.error("final commit failed: %s", exc)

    # -- tasks -------------------------------------------------------------------------------

    def _create_task(self, sub: SubTopology, partition: int) -> Task:
        assert self._emitter is not None and self._errors is not None
        tid = task_id(sub.id, partition)
        specs = {name: self.app.topology.stores[name] for name in sub.store_names}
        if not specs:
            return Task(sub, partition, self._emitter, self._errors)
        state, plan = self._state_manager.open(tid, partition, specs)
        task = Task(sub, partition, self._emitter, self._errors, specs, state)
        assert self._restorer is not None
        self._restorer.add(task, plan)
        return task

    def _activate(self, task: Task) -> None:
        """The task's stores are ready: open it and start reading all its input partitions."""
        assert self._plan is not None and self._consumer is not None
        task.open()
        sub_id = task.subtopology.id
        lead = self._plan.lead_topic[sub_id]
        self._routes[(lead, task.partition)] = task
        paused = self._paused.pop(task.id, None)
        if paused is not None:
            self._consumer.resume([paused])
        others = self._plan.copartitioned[sub_id]
        if others:
            assert self._secondary is not None
            self._secondary.incremental_assign([TopicPartition(t, task.partition) for t in others])
            for topic in others:
                self._routes[(topic, task.partition)] = task
        log.info("task %s running", task.id)
        self._write_status()

    def _close_task(self, task: Task, clean: bool = True) -> None:
        """Stop a task; ``clean`` means its last commit succeeded (else its buffer is dropped)."""
        assert self._plan is not None
        self._tasks.pop(task.id, None)
        self._paused.pop(task.id, None)
        if self._restorer is not None:
            self._restorer.remove(task.id)
        others = self._plan.copartitioned[task.subtopology.id]
        for topic in [self._plan.lead_topic[task.subtopology.id], *others]:
            self._routes.pop((topic, task.partition), None)
            self._committed.pop((topic, task.partition), None)
        if others and self._secondary is not None:
            try:
                self._secondary.incremental_unassign(
                    [TopicPartition(t, task.partition) for t in others]
                )
            except KafkaException as exc:
                log.debug("unassigning co-partitioned inputs of %s: %s", task.id, exc)
        if task.state is not None and not clean:
            task.state.discard()
        try:
            task.close()
        except Exception as exc:
            log.warning("closing task %s: %s", task.id, exc)

    # -- group membership --------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        to_pause = []
        for tp in partitions:
            sub = self._sub_of_lead[tp.topic]
            task = self._create_task(sub, tp.partition)
            self._tasks[task.id] = task
            assert self._restorer is not None
            if self._restorer.restoring(task.id):
                self._paused[task.id] = TopicPartition(tp.topic, tp.partition)
                to_pause.append(self._paused[task.id])
            else:
                self._activate(task)
        if to_pause:
            consumer.pause(to_pause)
        if partitions:
            log.info("assigned: %s", _names(partitions))
            self._write_status()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        clean = not self._needs_rejoin
        try:
            self._commit()  # under exactly-once: the open transaction commits before hand-over
        except Exception as exc:
            clean = False
            log.error("commit on revocation failed (records will be reprocessed): %s", exc)
        for tp in partitions:
            task = self._tasks.get(task_id(self._sub_of_lead[tp.topic].id, tp.partition))
            if task is not None:
                self._close_task(task, clean)
        if partitions:
            log.info("revoked: %s", _names(partitions))
            self._write_status()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {task_id(self._sub_of_lead[tp.topic].id, tp.partition) for tp in partitions}
        if self._txn is not None and self._txn.open:
            # The open transaction holds records of the lost tasks too: abort it, rewind the rest.
            kept = [
                t for tid, t in self._tasks.items() if tid not in lost and tid not in self._paused
            ]
            self._abort_and_rewind(kept)
        for tp in partitions:
            task = self._tasks.get(task_id(self._sub_of_lead[tp.topic].id, tp.partition))
            if task is not None:
                self._close_task(task, clean=False)
        if partitions:
            log.warning("lost without commit: %s", _names(partitions))
            self._write_status()

    # -- status ------------------------------------------------------------------------------

    _last_status = 0.0
    _status_due = False
    _error: str | None = None

    def _write_status_throttled(self) -> None:
        """At most one write a second for frequent events (commits every 100 ms, restoration
        progress); the loop calls it on every round, so the file is never more than a second
        behind."""
        if time.monotonic() - self._last_status > 1.0:
            self._write_status()

    def _write_status(self) -> None:
        self._last_status = time.monotonic()
        self._status_due = False
        restoring = self._restorer.progress() if self._restorer is not None else {}
        write_status(
            self._status_path,
            {
                "application_id": self.config.application_id,
                "instance_id": self.instance_id,
                "processing_guarantee": self.config.processing_guarantee,
                "pid": os.getpid(),
                "state": self._state,
                "error": self._error,
                "partitions": sorted(
                    f"{t}[{p}]" for t, p in self._routes if t in self._sub_of_lead
                ),
                "tasks": {
                    tid: ("restoring" if tid in self._paused else "running")
                    for tid in sorted(self._tasks)
                },
                "restoring": restoring,
                "records_restored": self._restorer.records_restored if self._restorer else 0,
                "committed": {f"{t}[{p}]": o for (t, p), o in sorted(self._committed.items())},
                "metrics": dataclasses.asdict(self.metrics),
            },
        )


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
