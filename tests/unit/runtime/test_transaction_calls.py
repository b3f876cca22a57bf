"""Transactional calls are bounded: a producer whose requests wait for a coordinator that is
gone is given up as stuck, and never called again (no broker needed)."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from kstreamy.runtime import transactions as transactions_module
from kstreamy.runtime.transactions import (
    AbortableTransactionError,
    FatalTransactionError,
    Transactions,
)


class CoordinatorGone:
    """A transactional producer whose offset commits time out every time, as a client still
    attached to a dead group coordinator does."""

    def __init__(self, fail_times: int = 10**9) -> None:
        self.fail_times = fail_times
        self.calls: list[tuple[str, float]] = []

    def init_transactions(self, timeout: float) -> None:
        self.calls.append(("init", timeout))

    def begin_transaction(self) -> None:
        self.calls.append(("begin", 0))

    def send_offsets_to_transaction(self, offsets, metadata, timeout: float) -> None:
        self.calls.append(("send_offsets", timeout))
        if self.fail_times > 0:
            self.fail_times -= 1
            time.sleep(min(timeout, 0.05))
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True))

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append(("commit", timeout))

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append(("abort", timeout))


OFFSETS = [TopicPartition("in", 0, 10)]


def test_a_call_that_keeps_timing_out_gives_the_producer_up_within_its_bound():
    producer = CoordinatorGone()
    transactions = Transactions(producer, call_bound_s=0.5)  # type: ignore[arg-type]
    transactions.begin()
    started = time.monotonic()
    with pytest.raises(FatalTransactionError, match="send_offsets_to_transaction did not complete"):
        transactions.commit(OFFSETS, object())
    assert time.monotonic() - started < 2.0
    assert transactions.broken
    # Each attempt is given only what is left of the bound.
    timeouts = [t for name, t in producer.calls if name == "send_offsets"]
    assert len(timeouts) > 1 and all(t <= 1.0 for t in timeouts)
    # Closing must not wait on the stuck producer again.
    transactions.abort()
    assert not any(name == "abort" for name, _ in producer.calls)
    assert not transactions.open


def test_a_call_that_times_out_once_is_retried_and_commits():
    producer = CoordinatorGone(fail_times=1)
    transactions = Transactions(producer, call_bound_s=5)  # type: ignore[arg-type]
    transactions.begin()
    transactions.commit(OFFSETS, object())
    assert [name for name, _ in producer.calls].count("send_offsets") == 2
    assert ("commit", pytest.approx(5, abs=0.5)) in producer.calls
    assert not transactions.broken and not transactions.open


def test_an_abortable_error_is_not_retried():
    class NeedsAbort(CoordinatorGone):
        def commit_transaction(self, timeout: float) -> None:
            raise KafkaException(KafkaError(KafkaError._STATE, "abort", txn_requires_abort=True))

    transactions = Transactions(NeedsAbort(), call_bound_s=5)  # type: ignore[arg-type]
    transactions.begin()
    with pytest.raises(AbortableTransactionError):
        transactions.commit([], object())
    assert not transactions.broken


def test_a_call_that_never_returns_gives_the_producer_up(monkeypatch):
    """The client does not always keep the timeout it was given: the call is abandoned."""
    monkeypatch.setattr(transactions_module, "RETURN_GRACE_S", 0.2)
    released = threading.Event()

    class NeverReturns(CoordinatorGone):
        def send_offsets_to_transaction(self, offsets, metadata, timeout: float) -> None:
            released.wait(30)

    transactions = Transactions(NeverReturns(), call_bound_s=0.5)  # type: ignore[arg-type]
    transactions.begin()
    started = time.monotonic()
    try:
        with pytest.raises(FatalTransactionError, match="did not return within"):
            transactions.commit(OFFSETS, object())
        assert time.monotonic() - started < 3.0
        assert transactions.broken
    finally:
        released.set()
