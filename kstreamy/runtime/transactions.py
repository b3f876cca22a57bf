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
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import KafkaException, Producer, TopicPartition

from kstreamy.runtime.bounded_call import CallTimedOut, call_within

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


CALL_BOUND_S = 15.0
"""How long sending the offsets, committing or aborting may go on timing out or failing with
retriable errors before the producer is given up as stuck. A coordinator moves to another
broker about 10 s after its broker dies (once the cluster fences it), but a client can stay
attached to the dead one: its
requests then wait for a broker that is gone (confluentinc/librdkafka#5511). The instance then
treats the producer as fenced: it drops its tasks uncommitted, starts new clients, whose first
look-up finds the live coordinators, and rejoins; the new producer's ``init_transactions``
aborts the transaction the stuck one left open."""

INIT_BOUND_S = 120.0
"""``init_transactions`` of a new producer waits for the coordinator to finish aborting what
the producer before it left open (up to ``transaction.timeout.ms``)."""

RETURN_GRACE_S = 2.0
"""How long past the timeout it was given a call may take to return before it counts as stuck
(the client checks its timeouts on a timer)."""


class Transactions:
    def __init__(
        self,
        producer: Producer,
        settings: dict[str, Any] | None = None,
        call_bound_s: float = CALL_BOUND_S,
    ) -> None:
        self.producer = producer
        self.call_bound_s = call_bound_s
        self.stall_s = stall_bound_s(settings or {})
        """How long a commit's flush may see no record acknowledged (see
        :meth:`~kstreamy.runtime.instance_clients.InstanceClients.flush`)."""
        self.open = False
        self.broken = False
        """Fenced, failed fatally or stuck: never to be called again; closing skips the abort."""
        self._call(producer.init_transactions, "init_transactions", INIT_BOUND_S)

    def begin(self) -> None:
        if not self.open:
            # Local to the client (no request to wait for): called on this thread.
            begin = self.producer.begin_transaction
            self._call(lambda _timeout: begin(), "begin_transaction", on_thread=False)
            self.open = True

    def commit(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """Commit outputs, changelog records and ``offsets`` atomically."""
        if not self.open:
            return
        if offsets:
            self._call(
                lambda timeout: self.producer.send_offsets_to_transaction(
                    offsets, group_metadata, timeout
                ),
                "send_offsets_to_transaction",
            )
        self._call(self.producer.commit_transaction, "commit_transaction")
        self.open = False

    def abort(self) -> None:
        if not self.open:
            return
        try:
            if not self.broken:
                self._call(self.producer.abort_transaction, "abort_transaction")
        finally:
            self.open = False

    def _call(
        self,
        operation: Callable[[float], T],
        name: str,
        bound_s: float = 0,
        on_thread: bool = True,
    ) -> T:
        """Run a transactional call, given the time left of its bound, retrying retriable
        errors (a timeout is one) with backoff until the bound; past it, or if the call does
        not return, the producer is stuck."""
        bound_s = bound_s or self.call_bound_s
        deadline = time.monotonic() + bound_s
        backoff = 0.1
        while True:
            timeout = max(deadline - time.monotonic(), 1.0)
            try:
                if not on_thread:
                    return operation(timeout)
                return call_within(partial(operation, timeout), timeout + RETURN_GRACE_S, name)
            except CallTimedOut as exc:
                self.broken = True
                raise FatalTransactionError(
                    f"{exc}: the producer is stuck (waiting for a broker that is gone) and is "
                    "replaced"
                ) from exc
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal():
                    self.broken = True
                    raise FatalTransactionError(f"{name}: {error.str()}") from exc
                if error.txn_requires_abort():
                    raise AbortableTransactionError(f"{name}: {error.str()}") from exc
                if not error.retriable():
                    raise
                if time.monotonic() + backoff >= deadline:
                    self.broken = True
                    raise FatalTransactionError(
                        f"{name} did not complete within {bound_s:.0f} s ({error.str()}): "
                        "the producer is stuck and is replaced"
                    ) from exc
                log.warning("%s failed, retrying in %.1fs: %s", name, backoff, error.str())
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
