"""Security settings: given in code, the environment or --set, checked together, passed to every
client kstreamy makes, never shown; a broker that refuses the credentials stops start-up at once.

Needs no broker (the clients here are never asked to connect, or connect to a closed port).
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from confluent_kafka import KafkaError

from kstreamy import App, AuthenticationError, ConfigError
from kstreamy.config import SECURITY_SETTINGS, AppConfig
from kstreamy.kafka import clients
from kstreamy.kafka.clients import (
    StartupAdmin,
    admin_settings,
    common_settings,
    consumer_settings,
    producer_settings,
    wait_for_cluster,
)
from kstreamy.ops import kafka_io
from kstreamy.query import endpoints
from kstreamy.runtime import control_topic, instance_clients, producer, restore
from kstreamy.runtime.metrics import Metrics
from kstreamy.testing.broker import free_port

SASL = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "svc-streams",
    "sasl.password": "hunter2",
    "ssl.ca.location": "/etc/ssl/ca.pem",
}
FIRST_CLASS = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "svc-streams",
    "sasl_password": "hunter2",
    "ssl_ca_location": "/etc/ssl/ca.pem",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("KSTREAMY_") and name != "KSTREAMY_LOG_LEVEL":
            monkeypatch.delenv(name)


def _contains(settings: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(settings.get(key) == value for key, value in expected.items())


@pytest.mark.parametrize("how", ["dotted", "first_class", "environment", "kafka_environment"])
def test_every_client_settings_function_includes_the_security_settings(monkeypatch, how):
    if how == "dotted":
        config = App("a", **SASL).config
    elif how == "first_class":
        config = App("a", **FIRST_CLASS).config
    elif how == "environment":
        for setting, value in FIRST_CLASS.items():
            monkeypatch.setenv(f"KSTREAMY_{setting.upper()}", value)
        config = App("a").config
    else:
        for prop, value in SASL.items():
            monkeypatch.setenv("KSTREAMY_KAFKA_" + prop.upper().replace(".", "_"), value)
        config = App("a").config
    assert _contains(config.kafka_config, SASL)
    for make in (consumer_settings, producer_settings, admin_settings, common_settings):
        assert _contains(make(config), SASL), make.__name__
    assert config.sasl_password == "hunter2"


def test_per_client_settings_keep_the_security_settings():
    config = App(
        "a",
        consumer_config={"fetch.min.bytes": 1},
        admin_config={"socket.timeout.ms": 5000},
        **SASL,
    ).config
    assert _contains(consumer_settings(config), {**SASL, "fetch.min.bytes": 1})
    assert _contains(admin_settings(config), {**SASL, "socket.timeout.ms": 5000})


class _Recorder:
    """Stands in for a confluent-kafka client: records its settings, never connects."""

    made: list[dict[str, Any]] = []

    def __init__(self, settings: dict[str, Any]) -> None:
        _Recorder.made.append(settings)

    def __getattr__(self, name: str) -> Any:
        return mock.MagicMock()


def test_every_client_the_runtime_and_the_tools_build_gets_the_security_settings(
    monkeypatch, tmp_path
):
    for module in (instance_clients, restore, control_topic, kafka_io, endpoints):
        monkeypatch.setattr(module, "Consumer", _Recorder, raising=False)
    for module in (producer, control_topic, kafka_io, endpoints):
        monkeypatch.setattr(module, "Producer", _Recorder, raising=False)
    _Recorder.made = []
    config = App("a", state_dir=str(tmp_path), **FIRST_CLASS).config

    clients_of_instance = instance_clients.InstanceClients.start(
        config, "i1", Metrics(), stateful=True, copartitioned=True
    )
    clients_of_instance.restorer._client()  # the restore consumer is made when first needed
    control_topic.ControlChannel(config)
    kafka_io.PartitionReader(config)
    kafka_io.Writer(config)
    endpoints.EndpointPublisher(config, "i1")
    endpoints.EndpointReader(common_settings(config), "a-endpoints")

    # producer, group consumer, co-partitioned consumer, restore consumer, control reader and
    # writer, savepoint/reset reader and writer, endpoints publisher and reader
    assert len(_Recorder.made) == 10
    for settings in _Recorder.made:
        assert _contains(settings, SASL), settings


def test_dotted_and_first_class_names_are_one_setting_and_later_sources_win(monkeypatch):
    monkeypatch.setenv("KSTREAMY_KAFKA_SASL_PASSWORD", "from-env")
    config = App("a", sasl_password="in-code").config
    assert config.sasl_password == "from-env"
    assert config.source_of("sasl_password") == "KSTREAMY_KAFKA_SASL_PASSWORD"
    overridden = config.with_overrides({"sasl.password": "from-set"})
    assert overridden.kafka_config["sasl.password"] == "from-set"
    assert overridden.source_of("sasl_password") == "--set"


def test_choices_are_checked_and_case_does_not_matter():
    config = App("a", security_protocol="sasl_plaintext", sasl_mechanism="scram-sha-256").config
    assert config.kafka_config["security.protocol"] == "SASL_PLAINTEXT"
    assert config.kafka_config["sasl.mechanism"] == "SCRAM-SHA-256"
    with pytest.raises(ConfigError, match="security_protocol must be one of 'PLAINTEXT'"):
        App("a", security_protocol="SASL_PLAIN")


def test_the_same_setting_twice_in_one_source_is_an_error(monkeypatch):
    monkeypatch.setenv("KSTREAMY_SASL_USERNAME", "alice")
    monkeypatch.setenv("KSTREAMY_KAFKA_SASL_USERNAME", "bob")
    with pytest.raises(ConfigError, match="sasl_username is given twice"):
        App("a")


@pytest.mark.parametrize(
    "settings, problem",
    [
        (
            {"sasl_username": "alice", "sasl_password": "x"},
            "sasl_username, sasl_password set, but security_protocol is PLAINTEXT",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_username": "alice", "sasl_password": "x"},
            "with sasl_username and sasl_password but no sasl_mechanism",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "a"},
            "sasl_mechanism PLAIN needs sasl_password",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "ssl_ca_location": "/ca.pem"},
            "ssl_ca_location set, but security_protocol is SASL_PLAINTEXT, which does not use TLS",
        ),
    ],
)
def test_settings_that_cannot_work_together_stop_before_connecting(settings, problem):
    config = App("a", **settings).config  # checked when a client is made, not when built
    with pytest.raises(ConfigError) as err:
        consumer_settings(config)
    assert problem in str(err.value)
    assert "x" not in str(err.value).split(problem)[-1].replace("TLS", "")


def test_the_check_names_where_a_setting_came_from(monkeypatch):
    monkeypatch.setenv("KSTREAMY_SASL_USERNAME", "alice")
    config = App("a").config
    with pytest.raises(ConfigError, match=r"sasl_username \(from KSTREAMY_SASL_USERNAME\) set"):
        admin_settings(config)
    # ... and the operator may complete it from the command line
    fixed = config.with_overrides(
        {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_password": "pw"}
    )
    assert admin_settings(fixed)["sasl.username"] == "alice"
    monkeypatch.delenv("KSTREAMY_SASL_USERNAME")
    assert (
        App("a", security_protocol="SSL", ssl_ca_location="/ca.pem").config.check_security() is None
    )
    assert (
        App("a", security_protocol="SASL_SSL", sasl_mechanism="GSSAPI").config.check_security()
        is None
    )


def test_passwords_are_never_shown(monkeypatch):
    config = App("a", **FIRST_CLASS, **{"ssl.key.password": "keypass"}).config
    redacted = config.redacted()
    assert redacted["sasl_password"] == "***"
    assert redacted["kafka_config"]["sasl.password"] == "***"
    assert redacted["kafka_config"]["ssl.key.password"] == "***"
    assert redacted["ssl_key_password"] == "***"
    assert redacted["sasl_username"] == "svc-streams"
    assert redacted["kafka_config"]["ssl.ca.location"] == "/etc/ssl/ca.pem"
    for shown in (repr(config), str(config), str(redacted)):
        assert "hunter2" not in shown and "keypass" not in shown
    with pytest.raises(ConfigError) as err:
        App("a", sasl_password=12345)
    assert "12345" not in str(err.value) and "sasl_password must be str or None" in str(err.value)
    with pytest.raises(ConfigError) as err:
        config.with_overrides({"sasl_pasword": "hunter3"})
    assert "hunter3" not in str(err.value) and "did you mean sasl_password" in str(err.value)


def test_settings_for_librdkafka_are_accepted_by_it():
    """librdkafka itself takes the settings (the client is made, it never connects)."""
    config = App(
        "a",
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        **{
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_username": "alice",
            "sasl_password": "alice-secret",
        },
    ).config
    admin = clients.create_admin(config)
    assert admin.settings["sasl.mechanism"] == "PLAIN"


def _refused_admin(config: AppConfig, message: str) -> StartupAdmin:
    admin = clients.create_admin(config)
    admin._on_error(KafkaError(KafkaError._AUTHENTICATION, message))
    return admin


def test_refused_credentials_stop_start_up_at_once_with_the_brokers_words(monkeypatch):
    monkeypatch.setenv("KSTREAMY_SASL_PASSWORD", "wrong-secret")
    address = f"127.0.0.1:{free_port()}"
    config = App(
        "a",
        bootstrap_servers=address,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
    ).config
    broker_says = (
        f"sasl_plaintext://{address}/bootstrap: SASL authentication error: Authentication "
        "failed: Invalid username or password (after 3ms in state AUTH_REQ)"
    )
    admin = _refused_admin(config, broker_says)
    started = time.monotonic()
    with pytest.raises(AuthenticationError) as err:
        wait_for_cluster(admin)
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert f"authentication with Kafka at {address} failed" in message
    assert "sasl_username alice" in message
    assert "sasl_password set from KSTREAMY_SASL_PASSWORD" in message
    assert "Invalid username or password" in message
    assert "wrong-secret" not in message


def test_wrong_settings_on_the_command_line_fail_fast_and_clearly(tmp_path):
    """A ``topics`` command given credentials without a SASL protocol: one line, no secret."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kstreamy_cli",
            "topics",
            "list",
            "-b",
            f"127.0.0.1:{free_port()}",
            "--set",
            "sasl_username=alice",
            "--set",
            "sasl_password=hunter2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert result.returncode == 1
    assert "security_protocol is PLAINTEXT" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_security_settings_map_to_librdkafka_properties():
    assert set(SECURITY_SETTINGS.values()) >= {
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
    }
    for setting, prop in SECURITY_SETTINGS.items():
        assert setting.replace("_", ".") == prop


def test_a_broker_that_closes_the_connection_is_reported_with_the_protocol_tried(monkeypatch):
    """A listener that expects SASL closes a plaintext client's connection: librdkafka says only
    that the brokers are down, so the error names the protocol used."""
    monkeypatch.setenv("KSTREAMY_SECURITY_PROTOCOL", "SSL")
    config = App("a", bootstrap_servers=f"127.0.0.1:{free_port()}").config
    admin = clients.create_admin(config)
    closed = clients._security_hint(admin, "1/1 brokers are down")
    assert closed == (
        "If it is, its listener may expect TLS or SASL: security_protocol is SSL from "
        "KSTREAMY_SECURITY_PROTOCOL."
    )
    assert (
        clients._security_hint(admin, "Connect to ipv4#127.0.0.1:1 failed: Connection refused")
        == ""
    )
