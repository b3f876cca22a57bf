"""Setting a group's offsets in a reset survives a broker that stops answering on a connection."""

import concurrent.futures

import pytest
from confluent_kafka import KafkaError, KafkaException

from kstreamy.errors import KStreamyError
from kstreamy.ops.kafka_io import set_offsets


class _Answer:
    topic_partitions: list = []


class _Admin:
    """An admin client whose connection answers (or stays silent) the same way every time."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent
        self.requests = 0

    def alter_consumer_group_offsets(self, requests, request_timeout):
        self.requests += 1
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self.silent:
            future.set_exception(KafkaException(KafkaError(KafkaError._TIMED_OUT)))
        else:
            future.set_result(_Answer())
        return {requests[0].group_id: future}


def test_a_timed_out_attempt_is_retried_on_a_new_client():
    silent, fresh = _Admin(silent=True), _Admin(silent=False)
    set_offsets(silent, "app", {("in", 0): 5}, reconnect=lambda: fresh)
    assert (silent.requests, fresh.requests) == (1, 1)


def test_without_a_new_client_every_attempt_times_out_and_the_error_names_the_group():
    silent = _Admin(silent=True)
    with pytest.raises(KStreamyError, match="cannot set offsets of group app"):
        set_offsets(silent, "app", {("in", 0): 5}, attempts=3)
    assert silent.requests == 3
