"""Producing changelog records and learning the offsets they got.

The offsets matter: after a commit, a task's checkpoint file records the next changelog offset
its stores reflect, so a restart restores only the tail. They come from delivery reports, so
changelog records are produced with a per-record callback; output records are not (they would
pay a Python call each for nothing). A commit hands over the records of each changelog partition
together (:meth:`ChangelogWriter.write_all`), and they share one callback: under exactly-once a
windowed aggregation writes about one changelog record per input record, and building a
callback per record was a measurable part of that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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
        self.write_all(topic, partition, [(key, value)], on_offset)

    def write_all(
        self,
        topic: str,
        partition: int,
        records: Iterable[tuple[bytes, bytes | None]],
        on_offset: Callable[[str, int], None],
    ) -> None:
        """Produce ``(key, value)`` records to ``topic[partition]`` in order (None: a tombstone);
        ``on_offset(topic, next offset)`` is called as each one is delivered."""

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                # Purged by an abort: the record belonged to a transaction given up on purpose.
                if err.code() not in _PURGED and self._failure is None:
                    self._failure = f"{topic}[{partition}]: {err.str()}"
            else:
                on_offset(topic, msg.offset() + 1)

        producer = self.producer
        produce = producer.produce
        for key, value in records:
            try:
                produce(topic, value, key, partition=partition, on_delivery=delivered)
            except BufferError:
                while True:
                    producer.poll(0.05)
                    try:
                        produce(topic, value, key, partition=partition, on_delivery=delivered)
                        break
                    except BufferError:
                        continue

    def check(self) -> None:
        """After the producer was flushed: raise if a changelog record was not delivered."""
        failure, self._failure = self._failure, None
        if failure is not None:
            raise DeliveryError(f"could not deliver changelog record: {failure}")
