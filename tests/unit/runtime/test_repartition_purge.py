"""Read records of repartition topics are deleted at most once per interval, never past what
was committed, and a broker without DeleteRecords turns purging off."""

from __future__ import annotations

from concurrent.futures import Future

from confluent_kafka import KafkaError, KafkaException

from kstreamy.runtime.repartition_purge import RepartitionPurge
from kstreamy.topic_plan import REPARTITION_TOPIC_CONFIG


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class Admin:
    def __init__(self, error: int | None = None) -> None:
        self.requests: list[list[tuple[str, int, int]]] = []
        self.error = error

    def delete_records(self, offsets, operation_timeout):
        self.requests.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))
        futures = {}
        for tp in offsets:
            future: Future = Future()
            if self.error is None:
                future.set_result(None)
            else:
                future.set_exception(KafkaException(KafkaError(self.error)))
            futures[tp] = future
        return futures


def test_purges_committed_offsets_of_repartition_topics_once_per_interval():
    admin, clock = Admin(), Clock()
    purge = RepartitionPurge(admin, ["app-by-user-repartition"], 30_000, clock)
    committed = {("input", 0): 50, ("app-by-user-repartition", 0): 10}
    purge.committed(committed)
    assert admin.requests == []  # the first interval has not passed
    clock.now = 30.0
    purge.committed(committed)
    assert admin.requests == [[("app-by-user-repartition", 0, 10)]]
    committed[("app-by-user-repartition", 1)] = 7
    clock.now = 40.0
    purge.committed(committed)
    assert len(admin.requests) == 1
    clock.now = 60.0
    purge.committed(committed)  # partition 0 did not move: only partition 1 is asked
    assert admin.requests[-1] == [("app-by-user-repartition", 1, 7)]


def test_a_broker_without_delete_records_turns_purging_off():
    admin, clock = Admin(KafkaError._UNSUPPORTED_FEATURE), Clock()
    purge = RepartitionPurge(admin, ["r"], 1000, clock)
    clock.now = 1.0
    purge.committed({("r", 0): 5})
    assert not purge.enabled
    clock.now = 5.0
    purge.committed({("r", 0): 9})
    assert len(admin.requests) == 1


def test_other_failures_are_retried_at_the_next_interval():
    admin, clock = Admin(KafkaError.REQUEST_TIMED_OUT), Clock()
    purge = RepartitionPurge(admin, ["r"], 1000, clock)
    clock.now = 1.0
    purge.committed({("r", 0): 5})
    clock.now = 2.0
    purge.committed({("r", 0): 5})
    assert purge.enabled and len(admin.requests) == 2


def test_nothing_to_purge_without_repartition_topics_or_with_interval_zero():
    assert not RepartitionPurge(Admin(), [], 1000).enabled
    assert not RepartitionPurge(Admin(), ["r"], 0).enabled
    assert not RepartitionPurge(None, ["r"], 1000).enabled


def test_repartition_topics_keep_records_until_read_not_by_event_time():
    assert REPARTITION_TOPIC_CONFIG["retention.ms"] == "-1"
    assert REPARTITION_TOPIC_CONFIG["cleanup.policy"] == "delete"
