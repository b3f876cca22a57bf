"""One running instance of an application: a consumer-group member and its tasks.

The loop polls a batch, hands each record to the task owning its partition, and commits on an
interval. At-least-once commit order: every produced record is acknowledged (producer flush)
before the input offsets that produced it are committed, so a crash may repeat output but never
loses input.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from kstreamy.errors import KStreamyError, RecordError
from kstreamy.runtime.clients import (
    consumer_settings,
    create_admin,
    create_client,
    producer_settings,
)
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.producer import KafkaEmitter
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.status import status_path, write_status
from kstreamy.runtime.task import Task, task_id
from kstreamy.runtime.topics import ensure_topic, require_topics

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
        self._tasks: dict[str, Task] = {}
        self._routes: dict[tuple[str, int], Task] = {}
        """(topic, partition) -> the task that owns it; a task may own several topics."""
        self._committed: dict[tuple[str, int], int] = {}
        self._subtopology_of_topic: dict[str, Any] = {}
        self._consumer: Consumer | None = None
        self._emitter: KafkaEmitter | None = None
        self._errors: RecordErrorHandler | None = None
        self._status_path = status_path(self.config.app_state_dir)
        self._state = "starting"

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and leave the group; safe from any thread."""
        self._stop_requested.set()

    def run(self) -> None:
        topology = self.app.topology
        topology.validate()
        self._prepare_topics()
        self._emitter = KafkaEmitter(producer_settings(self.config))
        self._errors = RecordErrorHandler(
            self.config.on_deserialization_error,
            self.config.on_processing_error,
            self.config.dead_letter_topic_name,
            self._emitter,
            self.metrics,
        )
        for sub in topology.subtopologies():
            for topic in sub.source_topics:
                self._subtopology_of_topic[topic] = sub
        self._consumer = create_client(Consumer, consumer_settings(self.config), "consumer")
        previous = self._set_signal_handlers()
        try:
            self._consumer.subscribe(
                topology.source_topics(),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            log.info(
                "instance of %s started on %s (reading %s)",
                self.config.application_id,
                self.config.bootstrap_servers,
                ", ".join(topology.source_topics()),
            )
            self._state = "running"
            self._write_status()
            self._loop()
            self._commit()
            self._state = "stopped"
        except RecordError:
            # Keep the progress made before the failing record; its own offset stays uncommitted.
            self._commit_quietly()
            self._state = "failed"
            raise
        except BaseException:
            self._state = "failed"
            raise
        finally:
            self._close()
            self._restore_signal_handlers(previous)
            self._write_status()

    def _prepare_topics(self) -> None:
        admin = create_admin(self.config)
        counts = require_topics(
            admin, self.app.topology.source_topics(), self.config.bootstrap_servers
        )
        policies = (self.config.on_deserialization_error, self.config.on_processing_error)
        if "dead_letter" in policies:
            ensure_topic(
                admin,
                self.config.dead_letter_topic_name,
                max(counts.values()),
                self.config.internal_topic_replication_factor,
            )

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("consumer close failed: %s", exc)
            self._consumer = None
        if self._emitter is not None:
            self._emitter.producer.flush(10)
        log.info(
            "instance stopped: %d records processed, %d skipped, %d dead-lettered",
            self.metrics.records_processed,
            self.metrics.records_skipped,
            self.metrics.records_dead_lettered,
        )

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        consumer = self._consumer
        emitter = self._emitter
        assert consumer is not None and emitter is not None
        routes = self._routes
        metrics = self.metrics
        batch_size = self.config.poll_batch_size
        timeout = self.config.poll_timeout_ms / 1000
        interval = self.config.effective_commit_interval_ms / 1000
        next_commit = time.monotonic() + interval
        while not self._stop_requested.is_set():
            messages = consumer.consume(batch_size, timeout)
            for message in messages:
                if message.error() is not None:
                    self._on_consume_error(message.error())
                    continue
                topic = message.topic()
                task = routes.get((topic, message.partition()))
                if task is None:
                    continue  # partition revoked while this batch was in flight
                task.process(message, topic)
            metrics.records_processed += len(messages)
            emitter.poll()
            if time.monotonic() >= next_commit:
                self._commit()
                next_commit = time.monotonic() + interval

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

    def _commit(self, only: list[tuple[str, int]] | None = None) -> None:
        """Flush outputs, then commit the input offsets of every processed record."""
        assert self._emitter is not None and self._consumer is not None
        self._emitter.flush()
        offsets = []
        keys = only if only is not None else list(self._routes)
        for key in keys:
            task = self._routes.get(key)
            if task is None:
                continue
            position = task.positions.get(key[0])
            if position is not None and self._committed.get(key) != position:
                offsets.append(TopicPartition(key[0], key[1], position))
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() in _RETRIABLE_COMMIT_ERRORS:
                log.warning("offset commit skipped (group rebalancing): %s", exc)
                return
            raise KStreamyError(f"offset commit failed: {exc}") from exc
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        self.metrics.commits += 1
        self._write_status()

    def _commit_quietly(self) -> None:
        try:
            self._commit()
        except Exception as exc:
            log.error("final commit failed: %s", exc)

    # -- group membership --------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._emitter is not None and self._errors is not None
        for tp in partitions:
            sub = self._subtopology_of_topic[tp.topic]
            tid = task_id(sub.id, tp.partition)
            task = self._tasks.get(tid)
            if task is None:
                task = Task(sub, tp.partition, self._emitter, self._errors)
                self._tasks[tid] = task
            self._routes[(tp.topic, tp.partition)] = task
        if partitions:
            log.info("assigned: %s", _names(partitions))
            self._write_status()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        try:
            self._commit(only=keys)
        except Exception as exc:
            log.error("commit on revocation failed (records will be reprocessed): %s", exc)
        self._drop(keys)
        if partitions:
            log.info("revoked: %s", _names(partitions))
            self._write_status()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop([(tp.topic, tp.partition) for tp in partitions])
        if partitions:
            log.warning("lost without commit: %s", _names(partitions))
            self._write_status()

    def _drop(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            task = self._routes.pop(key, None)
            self._committed.pop(key, None)
            if task is not None and task not in self._routes.values():
                del self._tasks[task.id]

    def _write_status(self) -> None:
        write_status(
            self._status_path,
            {
                "application_id": self.config.application_id,
                "pid": os.getpid(),
                "state": self._state,
                "partitions": sorted(f"{t}[{p}]" for t, p in self._routes),
                "tasks": sorted(self._tasks),
                "committed": {f"{t}[{p}]": o for (t, p), o in sorted(self._committed.items())},
                "metrics": dataclasses.asdict(self.metrics),
            },
        )

    # -- signals -----------------------------------------------------------------------------

    def _set_signal_handlers(self) -> dict[int, Any]:
        if not self._install_signal_handlers:
            return {}
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_requested.is_set():
            raise KeyboardInterrupt  # second signal: stop now, without the final commit
        log.info(
            "received %s: finishing the batch, committing, leaving the group",
            signal.Signals(signum).name,
        )
        self._stop_requested.set()

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
