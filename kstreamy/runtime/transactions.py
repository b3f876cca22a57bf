"""The transactional producer's life cycle under exactly-once, and what its errors mean.

One transaction per commit interval holds the output records, the changelog records and the
input offsets (``send_offsets_to_transaction`` with the consumer group metadata, so a member of
an older generation - a zombie - cannot commit). librdkafka classifies every failure:

- retriable: the same call may simply be repeated (a broker was briefly unavailable);
- abortable (``txn_requires_abort``): abort, rewind the tasks to their last committed offsets
  and state, and carry on;
- fatal (for example a fenced producer): this producer can never be used again; the instance
  drops its tasks without committing, builds a new producer and consumer and rejoins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaException, Producer, TopicPartition

log = logging.getLogger("kstreamy.transactions")

T = TypeVar("T")


class AbortableTransactionError(Exception):
    """The open transaction must be aborted; the instance rewinds and goes on."""


class FatalTransactionError(Exception):
    """The producer is fenced or broken; the instance must rebuild it and rejoin the group."""


STALL_S = 15.0
"""The longest a commit waits for the producer to acknowledge any record of the open
transaction before it gives the transaction up (abort, rewind, go on). Above the ~10 s a
cluster takes to elect a new leader for the partitions of a dead broker, well below librdkafka's
default ``transaction.timeout.ms`` (60 s)."""


def stall_bound_s(settings: dict[str, Any]) -> float:
    """:data:`STALL_S`, or a third of a shorter ``transaction.timeout.ms``: past that timeout
    the broker aborts the transaction itself, and the abort must still find the producer."""
    configured = settings.get("transaction.timeout.ms")
    if configured is None:
        return STALL_S
    return min(STALL_S, int(configured) / 3000)


class Transactions:
    def __init__(
        self,
        producer: Producer,
        settings: dict[str, Any] | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.producer = producer
        self.timeout_s = timeout_s
        self.stall_s = stall_bound_s(settings or {})
        """How long a commit's flush may see no record acknowledged (see
        :meth:`~kstreamy.runtime.instance_clients.InstanceClients.flush`)."""
        self.open = False
        self._call(lambda: producer.init_transactions(timeout_s), "init_transactions")

    def begin(self) -> None:
        if not self.open:
            self._call(self.producer.begin_transaction, "begin_transaction")
            self.open = True

    def commit(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """Commit outputs, changelog records and ``offsets`` atomically."""
        if not self.open:
            return
        if offsets:
            self._call(
                lambda: self.producer.send_offsets_to_transaction(
                    offsets, group_metadata, self.timeout_s
                ),
                "send_offsets_to_transaction",
            )
        self._call(lambda: self.producer.commit_transaction(self.timeout_s), "commit_transaction")
        self.open = False

    def abort(self) -> None:
        if not self.open:
            return
        try:
            self._call(lambda: self.producer.abort_transaction(self.timeout_s), "abort_transaction")
        finally:
            self.open = False

    def _call(self, operation: Callable[[], T], name: str, deadline_s: float = 120.0) -> T:
        """Run a transactional call, retrying retriable errors with backoff until a deadline."""
        deadline = time.monotonic() + deadline_s
        backoff = 0.1
        while True:
            try:
                return operation()
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal():
                    raise FatalTransactionError(f"{name}: {error.str()}") from exc
                if error.txn_requires_abort():
                    raise AbortableTransactionError(f"{name}: {error.str()}") from exc
                if error.retriable() and time.monotonic() < deadline:
                    log.warning("%s failed, retrying in %.1fs: %s", name, backoff, error.str())
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                raise
