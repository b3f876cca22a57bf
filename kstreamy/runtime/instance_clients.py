"""The Kafka clients of one instance, built together and closed together.

A fenced or fatally failed producer makes all of them unusable at once (the group membership and
the transactional id go together), so the instance rebuilds them as one set.
"""

from __future__ import annotations

import dataclasses
import logging

from confluent_kafka import Consumer, KafkaException

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import consumer_settings, create_client, producer_settings
from kstreamy.runtime.changelog import ChangelogWriter
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.producer import KafkaEmitter, ProducerStalledError
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.restore import Restorer
from kstreamy.runtime.transactions import AbortableTransactionError, Transactions

log = logging.getLogger("kstreamy.instance")


@dataclasses.dataclass
class InstanceClients:
    emitter: KafkaEmitter
    """The one producer of the instance: outputs, changelog records and dead letters."""
    transactions: Transactions | None
    """Under exactly-once, the emitter's producer's transaction life cycle."""
    changelog: ChangelogWriter | None
    errors: RecordErrorHandler
    consumer: Consumer
    """The group member: reads the lead topic of every sub-topology."""
    secondary: Consumer | None
    """Group-less: reads the co-partitioned inputs of the tasks the group assigned here."""
    restorer: Restorer

    @classmethod
    def start(
        cls,
        config: AppConfig,
        instance_id: str,
        metrics: Metrics,
        stateful: bool,
        copartitioned: bool,
    ) -> InstanceClients:
        eos = config.processing_guarantee == "exactly_once"
        settings = producer_settings(config)
        if eos:
            settings["transactional.id"] = f"{config.application_id}-{instance_id}"
        # Changelog records need delivery reports on success (their offsets feed checkpoints).
        emitter = KafkaEmitter(settings, transactional=eos, report_successes=stateful)
        transactions = Transactions(emitter.producer, settings) if eos else None
        changelog = ChangelogWriter(emitter.producer, transactional=eos) if stateful else None
        errors = RecordErrorHandler(
            config.on_deserialization_error,
            config.on_processing_error,
            config.dead_letter_topic_name,
            emitter,
            metrics,
        )
        consumer_config = consumer_settings(config)
        if "client.id" not in {**config.kafka_config, **config.consumer_config}:
            # Group members then say which instance they are (``kstreamy status``).
            consumer_config["client.id"] = f"{config.application_id}-{instance_id}-consumer"
        consumer = create_client(Consumer, consumer_config, "consumer")
        secondary = create_client(Consumer, consumer_config, "consumer") if copartitioned else None
        return cls(
            emitter, transactions, changelog, errors, consumer, secondary, Restorer(consumer_config)
        )

    def flush(self) -> None:
        """Wait for every output and changelog record; raises DeliveryError on a failure.

        Under exactly-once the wait is bounded by the transaction: a producer that acknowledges
        nothing for :attr:`Transactions.stall_s` raises AbortableTransactionError, so the
        instance aborts, rewinds its tasks and goes on instead of waiting for records that may
        never be sent (see :meth:`KafkaEmitter.flush`)."""
        if self.transactions is None:
            self.emitter.flush()
        else:
            try:
                self.emitter.flush(stall_s=self.transactions.stall_s)
            except ProducerStalledError as exc:
                raise AbortableTransactionError(f"flush: {exc}") from exc
        if self.changelog is not None:
            self.changelog.check()

    def close(self) -> None:
        """Close everything without committing anything (commits are the caller's business)."""
        self.restorer.close()
        for consumer in (self.consumer, self.secondary):
            if consumer is not None:
                try:
                    consumer.close()
                except (KafkaException, RuntimeError) as exc:
                    log.warning("consumer close failed: %s", exc)
        if self.transactions is not None:
            try:
                self.transactions.abort()
            except Exception as exc:
                log.debug("abort on close: %s", exc)
        try:
            if self.transactions is not None and self.transactions.broken:
                # Its records belong to a transaction that is aborted: do not wait for them.
                self.emitter.producer.purge()
                self.emitter.producer.flush(0)
            else:
                self.emitter.producer.flush(10)
        except KafkaException as exc:
            # A fenced or fatally failed producer raises here; it is being thrown away (the
            # instance rebuilds its clients and rejoins), so this must not stop the instance.
            log.debug("producer flush on close: %s", exc)
