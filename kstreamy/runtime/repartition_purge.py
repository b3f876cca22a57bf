"""Deleting what has been read from repartition topics, as Kafka Streams does.

Repartition topics are created with unlimited retention (``retention.ms=-1``): their records
carry event-time timestamps, and with time-based retention a backlog of old events (reprocessing
last month's data, say) would be deleted by the broker before the downstream task reads it,
silently. Unlimited retention alone would let them grow for ever, so every
``repartition_purge_interval_ms`` an instance deletes, with DeleteRecords, the records below the
offsets it has committed on the repartition partitions it reads: those are never read again
(a restart or a new owner starts at the committed offset; a savepoint keeps the records after
it).

The request is sent without waiting for the answer, so the loop never blocks on it. A broker
that does not support DeleteRecords (the embedded one) turns purging off with one log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import create_admin
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.repartition")

_UNSUPPORTED = {KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION}


class RepartitionPurge:
    def __init__(
        self,
        admin: AdminClient | None,
        topics: Iterable[str],
        interval_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = admin
        self._topics = frozenset(topics)
        self._interval_s = interval_ms / 1000
        self._clock = clock
        self._next = clock() + self._interval_s
        self._purged: dict[tuple[str, int], int] = {}
        """(topic, partition) -> the offset records were last deleted below."""
        self.enabled = admin is not None and bool(self._topics) and interval_ms > 0

    @classmethod
    def for_topology(cls, topology: Topology, config: AppConfig) -> RepartitionPurge:
        """The purge of ``topology``'s repartition topics (an admin client only if it has any)."""
        topics = [t for t, kind in topology.internal_topics().items() if kind == "repartition"]
        admin = create_admin(config) if topics else None
        return cls(admin, topics, config.repartition_purge_interval_ms)

    def committed(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """After a commit: purge up to ``offsets`` once the interval has passed."""
        if not self.enabled or self._clock() < self._next:
            return
        self._next = self._clock() + self._interval_s
        request = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in offsets.items()
            if topic in self._topics and offset > self._purged.get((topic, partition), 0)
        ]
        if not request:
            return
        try:
            futures = self._admin.delete_records(request, operation_timeout=0)
        except KafkaException as exc:
            self._failed(exc.args[0])
            return
        for tp, future in futures.items():
            future.add_done_callback(self._done(tp))

    def _done(self, tp: TopicPartition):
        def record(future: Future) -> None:
            try:
                future.result()
            except KafkaException as exc:
                self._failed(exc.args[0], tp)
            else:
                self._purged[(tp.topic, tp.partition)] = tp.offset

        return record

    def _failed(self, error: KafkaError, tp: TopicPartition | None = None) -> None:
        where = f" {tp.topic}[{tp.partition}]" if tp is not None else ""
        if error.code() in _UNSUPPORTED:
            if self.enabled:
                log.info(
                    "the broker does not support DeleteRecords: read records of repartition "
                    "topics are not deleted (%s)",
                    error.str(),
                )
            self.enabled = False
            return
        # Not fatal: the next interval tries again from the then committed offsets.
        log.warning("deleting read records of repartition topic%s failed: %s", where, error.str())
