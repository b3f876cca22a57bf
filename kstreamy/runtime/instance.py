"""One running instance of an application: a consumer-group member and its tasks.

The loop polls a batch, hands each run of records of one partition to the task owning it, tells
tasks when time advances, and commits on an interval. The other jobs have rooms of their own:
:class:`~kstreamy.runtime.task_manager.TaskManager` (which tasks run here, group callbacks,
restoration hand-off), :class:`~kstreamy.runtime.commit_manager.CommitManager` (offsets, the
transaction, the commit order), :class:`~kstreamy.runtime.commit_outcomes.CommitOutcomes` (what
a failed commit means and what is done about it), :class:`~kstreamy.runtime.status_report.
StatusReporter` (the status file). This module holds the life cycle (start, rejoin after a
fatal producer error, close) and the loop, which also handles a store found corrupt while in
use: every task goes back to its last commit, the damaged task's local state is wiped and
restored from its changelogs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import KafkaError

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError, RecordError
from kstreamy.kafka.clients import create_admin
from kstreamy.kafka.topics import output_topics, prepare_topics
from kstreamy.logs import set_instance, set_task
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.commit_outcomes import CommitOutcomes
from kstreamy.runtime.identity import instance_id
from kstreamy.runtime.instance_clients import InstanceClients
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.redelivery import skip_delivered_again
from kstreamy.runtime.repartition_purge import RepartitionPurge
from kstreamy.runtime.reset_marker import apply_reset_marker
from kstreamy.runtime.savepoint_hook import SavepointHook
from kstreamy.runtime.services import Services
from kstreamy.runtime.shutdown import stop_on_signals
from kstreamy.runtime.state_dir_check import check_contents, check_disk
from kstreamy.runtime.state_lock import StateDirLock
from kstreamy.runtime.status_report import StatusReporter
from kstreamy.runtime.task import Task
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.runtime.time_hook import WALL_CLOCK_INTERVAL_MS
from kstreamy.runtime.topic_watch import TopicWatch, watched_topics
from kstreamy.runtime.tracing import Consume, tracing_for
from kstreamy.state.errors import StoreCorruptedError
from kstreamy.state.resources import StoreResources
from kstreamy.state.state_manager import StateManager
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.instance")

BUFFER_CHECK_ROUNDS = 16
"""Rounds with records between two looks at how many state writes are buffered."""


class Instance:
    def __init__(
        self,
        topology: Topology,
        config: AppConfig,
        install_signal_handlers: bool = True,
        tracer_provider: Any = None,
    ) -> None:
        self.topology = topology
        self.config = config
        self.metrics = Metrics()
        # First: tracing on without OpenTelemetry installed stops the instance before it starts.
        self._tracing = tracing_for(config, tracer_provider)
        self._process_batch = self._tracing.process(self._process)
        self._run_records = self._tracing.run_records
        self._consume: Consume | None = None
        self._consume_secondary: Consume | None = None
        check_disk(config.app_state_dir)  # before the first write: the instance id's
        self.instance_id = instance_id(config.app_state_dir, config.instance_id)
        set_instance(self.instance_id)
        self._install_signal_handlers = install_signal_handlers
        self._stop_requested = threading.Event()
        self._eos = config.processing_guarantee == "exactly_once"
        self._commits = CommitManager(self._eos, self.metrics, self._tracing)
        self._tasks: TaskManager | None = None
        self._status: StatusReporter | None = None
        self._clients: InstanceClients | None = None
        self._savepoints: SavepointHook | None = None
        self._outcomes = CommitOutcomes(config, self._commits, self.metrics)
        self._services = Services()
        self._purge = RepartitionPurge(None, (), 0)
        self._topic_watch = TopicWatch(None, [])

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and leave the group; safe from any thread."""
        self._stop_requested.set()

    # -- life cycle --------------------------------------------------------------------------

    def run(self) -> None:
        self.topology.validate()
        lock = StateDirLock(self.config.app_state_dir)
        lock.acquire()
        try:
            check_contents(self.config.app_state_dir, self.config.application_id, self.topology)
            plan = prepare_topics(self.topology, self.config)
            watched = watched_topics(self.topology, plan, output_topics(self.topology))
            self._topic_watch = TopicWatch(create_admin(self.config), watched)
            state_manager = StateManager(
                self.config.app_state_dir,
                self.config.application_id,
                _store_resources(self.config),
            )
            apply_reset_marker(self.config, state_manager)
            tasks = TaskManager(
                self.topology,
                self.config,
                plan,
                state_manager,
                self._commits,
                self.metrics,
                self._tracing,
            )
            status = StatusReporter(
                self.config, self.instance_id, tasks, self._commits, self.metrics
            )
            savepoints = SavepointHook(
                self.topology, self.config, tasks, self._commits, self.instance_id, self.stop
            )
            tasks.on_change = lambda: (status.write(), savepoints.tasks_changed())
            tasks.before_revoke = self._outcomes.commit_before_revoke
            tasks.before_lost = self._outcomes.abort_for_lost
            self._commits.on_committed = lambda: setattr(status, "due", True)
            self._purge = RepartitionPurge.for_topology(self.topology, self.config)
            self._tasks, self._status, self._savepoints = tasks, status, savepoints
            self._outcomes.tasks, self._outcomes.savepoints = tasks, savepoints
            services = Services.start(
                self.config, self.instance_id, self.metrics, tasks, status, lambda: self._clients
            )
            self._services = services
            try:
                with stop_on_signals(self._stop_requested, self._install_signal_handlers):
                    self._run_until_stopped(tasks, status)
            finally:
                services.stop()
        finally:
            lock.release()

    def _run_until_stopped(self, tasks: TaskManager, status: StatusReporter) -> None:
        try:
            assert self._savepoints is not None
            self._savepoints.start()
            self._start_clients()
            log.info(
                "instance %s of %s started on %s (%s, reading %s)",
                self.instance_id,
                self.config.application_id,
                self.config.bootstrap_servers,
                self.config.processing_guarantee,
                ", ".join(self.topology.source_topics()),
            )
            status.state = "running"
            status.write()
            self._loop(tasks, status)
            self._outcomes.commit()
            status.state = "stopped"
        except RecordError as exc:
            # Keep the progress made before the failing record; its own offset stays uncommitted.
            self._outcomes.commit_quietly()
            status.state, status.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        except BaseException as exc:
            # "Unknown topic or partition" from a client: say which topic and what happened.
            explained = self._topic_watch.explain(exc) if isinstance(exc, Exception) else None
            failure = explained or exc
            status.state, status.error = "failed", f"{type(failure).__name__}: {failure}"
            if explained is not None:
                raise explained from exc
            raise
        finally:
            self._close()
            status.write()

    def _start_clients(self) -> None:
        """Producer, consumers and the group subscription; again after a fatal error."""
        tasks = self._tasks
        assert tasks is not None and self._status is not None
        clients = InstanceClients.start(
            self.config,
            self.instance_id,
            self.metrics,
            stateful=bool(self.topology.stores),
            copartitioned=any(tasks.plan.copartitioned.values()),
        )
        self._clients = clients
        # The tracing hooks are bound here, once per set of clients, not looked up per batch.
        tracing = self._tracing
        self._consume = tracing.consume(clients.consumer.consume)
        secondary = clients.secondary
        self._consume_secondary = None if secondary is None else tracing.consume(secondary.consume)
        clients.restorer.tracing = tracing
        self._commits.attach(clients)
        tasks.bind(clients)
        self._status.restorer = clients.restorer
        clients.consumer.subscribe(
            tasks.lead_topics,
            on_assign=tasks.on_assign,
            on_revoke=tasks.on_revoke,
            on_lost=tasks.on_lost,
        )

    def _rejoin(self) -> None:
        """After a fatal producer error: drop every task uncommitted, new clients, rejoin."""
        log.warning("producer fenced or failed fatally: dropping tasks and rejoining the group")
        assert self._tasks is not None
        self._tasks.close_all(clean=False)
        self._close_clients()
        self._outcomes.needs_rejoin = False
        self._start_clients()

    def _close(self) -> None:
        if self._tasks is not None:
            self._tasks.close_all()
        self._close_clients()
        if self._savepoints is not None:
            self._savepoints.close()
        log.info(
            "instance stopped: %d records processed, %d skipped, %d dead-lettered",
            self.metrics.records_processed,
            self.metrics.records_skipped,
            self.metrics.records_dead_lettered,
        )

    def _close_clients(self) -> None:
        clients, self._clients = self._clients, None
        if clients is None:
            return
        rejoining = self._outcomes.needs_rejoin
        self._outcomes.needs_rejoin = True  # the group consumer's close (a revoke) must not commit
        try:
            clients.close()
        finally:
            self._outcomes.needs_rejoin = rejoining
            self._commits.detach()

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self, tasks: TaskManager, status: StatusReporter) -> None:
        """Run rounds until asked to stop; a store found corrupt on the way is rebuilt."""
        while True:
            try:
                self._rounds(tasks, status)
                return
            except StoreCorruptedError as exc:
                self._outcomes.rebuild_corrupt_store(exc)

    def _rounds(self, tasks: TaskManager, status: StatusReporter) -> None:
        """Poll, process, tell time, commit, until asked to stop.

        Tracing adds nothing here: ``self._consume`` and ``self._process_batch`` are the
        consumer's ``consume`` and :meth:`_process` themselves unless tracing is on, in which
        case they are the traced wrappers bound at start (see :mod:`kstreamy.runtime.tracing`).
        """
        batch_size = self.config.effective_poll_batch_size
        timeout = self.config.poll_timeout_ms / 1000
        interval = self.config.effective_commit_interval_ms / 1000
        max_buffered = self.config.state_buffer_max_records
        stateful = bool(self.topology.stores)
        one_topic = len(tasks.sub_of_lead) == 1  # the group consumer reads one topic
        savepoints = self._savepoints
        assert savepoints is not None
        next_commit = time.monotonic() + interval
        next_clock_ms = 0
        rounds_with_records = 0
        while not self._stop_requested.is_set():
            if self._outcomes.needs_rejoin:
                self._rejoin()
            clients = self._clients
            consume = self._consume
            assert clients is not None and consume is not None
            restorer = clients.restorer
            if restorer.busy:
                for task in restorer.step(batch_size * 5):
                    tasks.activate(task)

            # What is there now, up to a batch; if nothing, wait for the next record only, not
            # for a full batch: an idle loop handles each record as it comes, a busy one finds
            # full batches waiting.
            messages = consume(batch_size, 0)
            if not messages and not restorer.busy:
                messages = consume(1, timeout)
                if messages and batch_size > 1:
                    messages += consume(batch_size - 1, 0)
            processed = self._process_batch(messages, one_topic)
            if clients.secondary is not None and clients.secondary.assignment():
                assert self._consume_secondary is not None
                processed += self._process_batch(self._consume_secondary(batch_size, 0))
            if tasks.timed:
                now_ms = int(time.time() * 1000)
                if now_ms >= next_clock_ms:
                    next_clock_ms = now_ms + WALL_CLOCK_INTERVAL_MS
                    self._commits.begin()
                    for task in tasks.timed:
                        set_task(task.id)
                        task.advance_wall_clock(now_ms)
                    set_task(None)
            clients.emitter.poll()
            status.write_if_due()
            self._services.tick()
            now = time.monotonic()
            self._topic_watch.tick(now)
            due = savepoints.poll() or now >= next_commit
            if not due and stateful and processed:
                rounds_with_records += 1
                if rounds_with_records % BUFFER_CHECK_ROUNDS == 0:
                    due = tasks.buffered() >= max_buffered
            if due:
                self._outcomes.commit()
                next_commit = time.monotonic() + interval
                # At every commit interval, not only when offsets moved: the last offsets of a
                # burst are committed once, and an idle loop must still purge up to them.
                self._purge.committed(self._commits.committed)

    def _process(self, messages: list[Any], one_topic: bool = False) -> int:
        """Route a batch to its tasks, a run of one partition at a time; then tell the tasks
        that got records how far their inputs' event time has come. ``one_topic``: the consumer
        reads a single topic, so runs need not be told apart by topic.

        Each run goes through ``self._run_records``: :meth:`Task.process_run` itself when
        tracing is off (the only cost tracing has here: one attribute read per batch), the
        sampling run of :mod:`kstreamy.runtime.otel_records` when on."""
        if not messages:
            return 0
        self._commits.begin()
        tasks = self._tasks
        assert tasks is not None
        routes = tasks.routes
        run = self._run_records
        touched: list[Task] = []
        seen_before = 0
        count = len(messages)
        start = 0
        while start < count:
            first = messages[start]
            if first.error() is not None:
                self._on_consume_error(first.error())
                start += 1
                continue
            topic, partition = first.topic(), first.partition()
            task = routes.get((topic, partition))
            if task is None:
                tasks.not_routed(first)
                start += 1
                while (
                    start < count
                    and messages[start].partition() == partition
                    and (messages[start].topic() == topic)
                ):
                    start += 1
                continue
            position = task.positions.get(topic)
            if position is not None and first.offset() < position:
                end = skip_delivered_again(task, messages, start, topic, partition, position)
                seen_before += end - start
                start = end
                continue
            set_task(task.id)
            end = run(task, messages, start, topic, partition, one_topic)
            task.records_in += end - start
            task.latency.saw(messages[start].timestamp()[1], messages[end - 1].timestamp()[1])
            start = end
            if task not in touched:
                touched.append(task)
        self.metrics.records_processed += count - seen_before
        sent_ms = time.time() * 1000  # the batch's outputs are with the producer now
        for task in touched:
            task.latency.sent(sent_ms)
            set_task(task.id)
            task.advance_stream_time()
        set_task(None)
        return count

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


def _store_resources(config: AppConfig) -> StoreResources:
    """One bound (``state_memory_bytes``) gets the bounded layout; else the two budgets."""
    if config.state_memory_bytes is not None:
        return StoreResources.bounded(config.state_memory_bytes)
    return StoreResources(config.state_cache_bytes, config.state_write_buffer_bytes)
