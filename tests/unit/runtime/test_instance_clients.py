"""Closing an instance's clients after a fatal producer error (no broker needed)."""

from __future__ import annotations

from unittest.mock import MagicMock

from confluent_kafka import KafkaError, KafkaException

from kstreamy.runtime.instance_clients import InstanceClients


def _fenced() -> KafkaException:
    return KafkaException(KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True))


def test_closing_clients_of_a_fenced_producer_does_not_raise():
    """The instance closes its clients to rebuild them after the producer was fenced; the
    fenced producer's flush raises, which must not take the instance down."""
    emitter = MagicMock()
    emitter.producer.flush.side_effect = _fenced()
    transactions = MagicMock()
    transactions.abort.side_effect = _fenced()
    transactions.broken = True
    consumer = MagicMock()
    clients = InstanceClients(
        emitter=emitter,
        transactions=transactions,
        changelog=None,
        errors=MagicMock(),
        consumer=consumer,
        secondary=None,
        restorer=MagicMock(),
    )
    clients.close()
    consumer.close.assert_called_once()
    emitter.producer.purge.assert_called_once()  # an aborted transaction's records
    emitter.producer.flush.assert_called_once()
