"""Producing changelog records and learning the offsets they got.

The offsets matter: after a commit, a task's checkpoint file records the next changelog offset
its stores reflect, so a restart restores only the tail. They come from delivery reports, so
changelog records are produced with a per-record callback; output records are not (they would
pay a Python call each for nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

from kstreamy.errors import DeliveryError

log = logging.getLogger("kstreamy.changelog")

_PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)


class ChangelogWriter:
    """Writes changelog records through the instance's producer, which carries the outputs too.

    Under exactly-once that producer is transactional, so changelog records commit or abort with
    the outputs. Its delivery reports must include successes (they carry the offsets).
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self._failure: str | None = None

    def write(
        self,
        topic: str,
        partition: int,
        key: bytes,
        value: bytes | None,
        on_offset: Callable[[str, int], None],
    ) -> None:
        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                # Purged by an abort: the record belonged to a transaction given up on purpose.
                if err.code() not in _PURGED and self._failure is None:
                    self._failure = f"{topic}[{partition}]: {err.str()}"
            else:
                on_offset(topic, msg.offset() + 1)

        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, on_delivery=delivered)
                return
            except BufferError:
                self.producer.poll(0.05)

    def check(self) -> None:
        """After the producer was flushed: raise if a changelog record was not delivered."""
        failure, self._failure = self._failure, None
        if failure is not None:
            raise DeliveryError(f"could not deliver changelog record: {failure}")
