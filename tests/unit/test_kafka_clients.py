"""Client plumbing that needs no broker: librdkafka's log lines and the embedded-broker tuning."""

import logging
from types import SimpleNamespace

import pytest

from kstreamy import App
from kstreamy.errors import ConfigError
from kstreamy.kafka.clients import (
    EMBEDDED_CLUSTER_ID,
    EMBEDDED_GROUP_SETTINGS,
    TRANSACTIONAL_REQUEST_TIMEOUT_MS,
    _tune_for_embedded,
    consumer_settings,
    producer_settings,
)
from kstreamy.kafka.log import KafkaLog
from kstreamy.runtime.producer import KafkaEmitter


def _refused(port: int) -> tuple[str, str, str]:
    text = f"127.0.0.1:{port}/bootstrap: Connect failed: Connection refused (after 0ms)"
    return ("FAIL", "rdkafka#consumer-1", text)


def test_librdkafka_lines_are_logged_at_warning_or_debug_and_repeats_left_out(caplog):
    kafka_log = KafkaLog("test.librdkafka", repeat_window=60)
    with caplog.at_level(logging.DEBUG, logger="test.librdkafka"):
        for _ in range(50):
            kafka_log.log(logging.ERROR, "%s [%s] %s", *_refused(9))
        kafka_log.log(logging.INFO, "%s [%s] %s", "CONNECT", "rdkafka#consumer-1", "connecting")
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert len(levels) == 2
    assert levels[0][0] == logging.WARNING and "Connection refused" in levels[0][1]
    assert levels[1] == (logging.DEBUG, "CONNECT [rdkafka#consumer-1] connecting")


def test_a_repeat_after_the_window_says_how_many_were_left_out(caplog):
    kafka_log = KafkaLog("test.librdkafka", repeat_window=0.0)
    kafka_log._window = 1e9  # every repeat inside the window
    with caplog.at_level(logging.WARNING, logger="test.librdkafka"):
        kafka_log.log(logging.ERROR, "%s [%s] %s", *_refused(1))
        kafka_log.log(logging.ERROR, "%s [%s] %s", *_refused(2))
        kafka_log._window = 0.0  # the window has passed
        kafka_log.log(logging.ERROR, "%s [%s] %s", *_refused(3))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[1].endswith("(1 similar lines in the last 0s left out)")


def _metadata(cluster_id: str) -> SimpleNamespace:
    return SimpleNamespace(cluster_id=cluster_id)


def test_embedded_broker_gets_short_group_timeouts_unless_the_app_chose_its_own():
    config = App("a").config
    _tune_for_embedded(SimpleNamespace(config=config), _metadata(EMBEDDED_CLUSTER_ID))
    settings = consumer_settings(config)
    assert settings["session.timeout.ms"] == EMBEDDED_GROUP_SETTINGS["session_timeout_ms"]
    assert settings["heartbeat.interval.ms"] == EMBEDDED_GROUP_SETTINGS["heartbeat_interval_ms"]

    chosen = App("a", session_timeout_ms=6000).config
    _tune_for_embedded(SimpleNamespace(config=chosen), _metadata(EMBEDDED_CLUSTER_ID))
    assert consumer_settings(chosen)["session.timeout.ms"] == 6000
    assert "heartbeat.interval.ms" not in consumer_settings(chosen)

    kafka = App("a").config
    _tune_for_embedded(SimpleNamespace(config=kafka), _metadata("MkU3OEVBNTcwNTJENDM2Qk"))
    assert consumer_settings(kafka)["session.timeout.ms"] == 45000


def test_every_client_logs_through_python_logging():
    settings = consumer_settings(App("a").config)
    assert isinstance(settings["logger"], KafkaLog)


def test_the_transactional_producer_gives_up_on_a_lost_response_after_30s_not_60s():
    eos = producer_settings(App("a", processing_guarantee="exactly_once").config)
    assert eos["socket.timeout.ms"] == TRANSACTIONAL_REQUEST_TIMEOUT_MS == 30000
    # Above the ~10 s a cluster needs to fence a dead broker and move its leaders.
    assert TRANSACTIONAL_REQUEST_TIMEOUT_MS > 10000
    assert "socket.timeout.ms" not in producer_settings(App("a").config)
    chosen = App(
        "a", processing_guarantee="exactly_once", producer_config={"socket.timeout.ms": 45000}
    ).config
    assert producer_settings(chosen)["socket.timeout.ms"] == 45000


def test_the_default_session_outlasts_a_group_coordinator_failover():
    # A dead broker is fenced after ~9-10 s; the new coordinator then loads the group.
    assert App("a").config.session_timeout_ms >= 30000


def test_contradictory_transaction_timeouts_give_a_config_error_naming_the_setting():
    config = App(
        "a",
        processing_guarantee="exactly_once",
        producer_config={"transaction.timeout.ms": 5000, "socket.timeout.ms": 30000},
    ).config
    settings = {**producer_settings(config), "transactional.id": "t"}
    with pytest.raises(ConfigError, match=r"socket\.timeout\.ms"):
        KafkaEmitter(settings, transactional=True)
