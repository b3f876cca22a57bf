"""Commits: input positions, the Kafka transaction, changelog records and the commit order.

One object owns what "committed" means for this instance: which input offsets the group has
from us, whether a transaction is open, and the order of the steps of a commit (delegated to
:class:`~kstreamy.runtime.commit_sequence.CommitSequence`). It never decides what to do about a
failure; it reports a :class:`~kstreamy.runtime.commit_sequence.CommitResult` and the instance acts.

At-least-once: flush the producer (outputs and changelog records), then commit offsets
synchronously. Exactly-once: one transaction per commit holding outputs, changelog records and
input offsets (``send_offsets_to_transaction`` with the group metadata, so a zombie cannot
commit). Either way buffered state reaches the stores only after the commit.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from kstreamy.errors import KStreamyError
from kstreamy.runtime.changelog import ChangelogWriter
from kstreamy.runtime.commit_sequence import CommitResult, CommitSequence, StateApplyError
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.task import Task
from kstreamy.runtime.tracing import NO_TRACING, Tracing
from kstreamy.runtime.transactions import AbortableTransactionError, Transactions

log = logging.getLogger("kstreamy.commit")


class CommitClients(Protocol):
    """What a commit needs of the instance's clients (``InstanceClients`` is one): the group
    consumer (offsets, group metadata), the transactions under exactly-once, the changelog
    writer of a stateful application, and a flush that waits for every record sent."""

    consumer: Any
    transactions: Transactions | None
    changelog: ChangelogWriter | None

    def flush(self) -> None: ...


# Commit errors after which the group has moved on: the records will be processed again by the
# new owner, which at-least-once allows.
_RETRIABLE_COMMIT_ERRORS = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
}


class CommitManager:
    def __init__(self, exactly_once: bool, metrics: Metrics, tracing: Tracing = NO_TRACING) -> None:
        self.exactly_once = exactly_once
        self.metrics = metrics
        self.tracing = tracing
        self.committed: dict[tuple[str, int], int] = {}
        """(topic, partition) -> the offset the group holds from this instance."""
        self.on_committed: Callable[[], None] = lambda: None
        """Called after each successful commit (the status report uses it)."""
        self._clients: CommitClients | None = None

    def attach(self, clients: CommitClients) -> None:
        self._clients = clients

    def detach(self) -> None:
        """The clients are gone: what the group holds must be asked again next time."""
        self._clients = None
        self.committed.clear()

    # -- transactions ----------------------------------------------------------------------

    def begin(self) -> None:
        """Under exactly-once, make sure a transaction is open before producing anything.

        Called after each poll, not before: a rebalance callback inside the poll may have just
        committed the previous transaction."""
        clients = self._clients
        if clients is not None and clients.transactions is not None:
            clients.transactions.begin()

    @property
    def transaction_open(self) -> bool:
        clients = self._clients
        return (
            clients is not None and clients.transactions is not None and clients.transactions.open
        )

    def abort(self) -> None:
        """Abort the open transaction (if any). Raises FatalTransactionError when the producer is
        beyond use; an abortable error while aborting means it is aborted already."""
        if self._clients is None or self._clients.transactions is None:
            return
        with contextlib.suppress(AbortableTransactionError):
            self._clients.transactions.abort()

    # -- commits ---------------------------------------------------------------------------

    def commit(self, tasks: list[Task]) -> CommitResult:
        """Commit ``tasks`` (active, not restoring) in the order CommitSequence owns."""
        states = [t.state for t in tasks if t.state is not None]
        sequence = CommitSequence(
            produce_changelogs=lambda: self._produce_changelogs(tasks),
            flush=self._flush,
            commit=lambda: self._commit_offsets(tasks),
            apply_state=lambda: self._apply(tasks),
            write_checkpoints=lambda: [s.write_checkpoint() for s in states],
            discard=lambda: [t.discard() for t in tasks],
        )
        started = time.perf_counter()
        result = self.tracing.commit(sequence.run, self.exactly_once, len(tasks))
        if result.committed:
            self.metrics.observe_commit(time.perf_counter() - started)
        return result

    def _produce_changelogs(self, tasks: list[Task]) -> None:
        for task in tasks:
            task.prepare_commit()
            state = task.state
            if state is None or not state.dirty:
                continue
            assert self._clients is not None and self._clients.changelog is not None
            write_all = self._clients.changelog.write_all
            record_offset = state.record_changelog_offset
            for topic, records in state.changelog_records():
                write_all(topic, task.partition, records, record_offset)

    def _flush(self) -> None:
        assert self._clients is not None
        # Also serves the changelog delivery reports (their offsets feed checkpoints).
        self._clients.flush()

    def _commit_offsets(self, tasks: list[Task]) -> None:
        clients = self._clients
        assert clients is not None
        offsets = self._offsets_to_commit(tasks)
        if clients.transactions is not None:
            clients.transactions.commit(offsets, clients.consumer.consumer_group_metadata())
            now_ms = time.time() * 1000  # the outputs became visible to read_committed readers
            for task in tasks:
                task.latency.committed(now_ms)
        elif offsets:
            try:
                clients.consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() not in _RETRIABLE_COMMIT_ERRORS:
                    raise KStreamyError(f"offset commit failed: {exc}") from exc
                # The outputs and changelog records are delivered, so applying the state stays
                # consistent with the changelog; the records will be processed again.
                log.warning("offset commit skipped (group rebalancing): %s", exc)
                return
        else:
            return
        for tp in offsets:
            self.committed[(tp.topic, tp.partition)] = tp.offset
        self.metrics.commits += 1
        self.on_committed()

    def _offsets_to_commit(self, tasks: list[Task]) -> list[TopicPartition]:
        committed = self.committed
        offsets = []
        for task in tasks:
            for topic, position in task.positions.items():
                if committed.get((topic, task.partition)) != position:
                    offsets.append(TopicPartition(topic, task.partition, position))
        return offsets

    @staticmethod
    def _apply(tasks: list[Task]) -> None:
        failures: dict[str, Exception] = {}
        for task in tasks:
            if task.state is None:
                continue
            try:
                task.state.apply()
            except Exception as exc:
                failures[task.id] = exc
        if failures:
            raise StateApplyError(failures)

    def forget(self, topic: str, partition: int) -> None:
        """The partition left this instance."""
        self.committed.pop((topic, partition), None)
