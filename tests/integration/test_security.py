"""Security settings against a real broker with a SASL_PLAINTEXT listener (mechanism PLAIN).

An instance process and the commands that talk to Kafka (status, savepoint, reset, topics) get
their SASL settings from the environment or --set, records flow input -> output, and a wrong
password stops both an instance and a command within seconds with a clear error.

Needs Apache Kafka's jars: ``KSTREAMY_TEST_KAFKA_LIBS`` (see tests_support/sasl_kafka.py);
skipped without them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstreamy.testing.topics import create_topics, produce, read_topic
from tests_support.app_cli import app_env, kstreamy, ok
from tests_support.instances import InstanceFactory, InstanceProcess
from tests_support.sasl_kafka import (
    LIBS_VARIABLE,
    MECHANISM,
    PASSWORD,
    USERNAME,
    SaslKafka,
    client_settings,
    unavailable_reason,
)

pytestmark = pytest.mark.integration

KEYS = [f"key-{i:02d}" for i in range(20)]
FAILS_WITHIN_S = 30
WRONG_PASSWORD = "not-the-secret"


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslKafka]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    broker = SaslKafka(os.environ[LIBS_VARIABLE], tmp_path_factory.mktemp("sasl-kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def security_env(password: str = PASSWORD) -> dict[str, str]:
    """The first-class settings, as an operator sets them for an instance."""
    return {
        "KSTREAMY_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KSTREAMY_SASL_MECHANISM": MECHANISM,
        "KSTREAMY_SASL_USERNAME": USERNAME,
        "KSTREAMY_SASL_PASSWORD": password,
    }


def librdkafka_env(password: str = PASSWORD) -> dict[str, str]:
    """The same settings under librdkafka's property names (``KSTREAMY_KAFKA_*``)."""
    return {
        "KSTREAMY_KAFKA_" + prop.upper().replace(".", "_"): value
        for prop, value in client_settings(password=password).items()
    }


class SecuredApp:
    """tests/apps/counts_app.py on the SASL broker: its topics, instances and commands."""

    def __init__(self, broker: SaslKafka, tmp_path: Path, password: str = PASSWORD) -> None:
        self.bootstrap = broker.bootstrap_servers
        self.auth = client_settings()
        suffix = uuid.uuid4().hex[:8]
        self.topics = {
            "input": f"in-{suffix}",
            "output": f"counts-{suffix}",
            "sums_output": f"sums-{suffix}",
        }
        create_topics(self.bootstrap, dict.fromkeys(self.topics.values(), 2), settings=self.auth)
        self.app_id = f"secured-{suffix}"
        self.tmp_path = tmp_path
        self.security = security_env(password)
        self.instances = InstanceFactory(self.bootstrap, tmp_path)
        self.env = {
            **app_env(self.bootstrap, self.app_id, tmp_path / "cli-state", **self.topics),
            **self.security,
        }

    def produce(self, start: int, stop: int) -> None:
        records = (
            (KEYS[i % len(KEYS)].encode(), json.dumps({"n": i}).encode())
            for i in range(start, stop)
        )
        produce(self.bootstrap, self.topics["input"], records, settings=self.auth)

    def start(self, name: str) -> InstanceProcess:
        return self.instances.start(
            "counts_app", self.app_id, name=name, extra_env=self.security, **self.topics
        )

    def wait_counts(self, stop: int) -> None:
        expected = dict(Counter(KEYS[i % len(KEYS)] for i in range(stop)))

        def latest(records) -> dict[str, int]:
            return {
                r.key().decode(): int.from_bytes(r.value(), "big", signed=True) for r in records
            }

        got = read_topic(
            self.bootstrap,
            self.topics["output"],
            lambda records: latest(records) == expected,
            timeout=90,
            settings=self.auth,
        )
        assert latest(got) == expected

    def cli(self, *args: str, env: dict[str, str] | None = None):
        return kstreamy(env or self.env, *args, timeout=120)


@pytest.fixture
def secured_app(sasl_kafka: SaslKafka, tmp_path: Path) -> Iterator[SecuredApp]:
    app = SecuredApp(sasl_kafka, tmp_path)
    try:
        yield app
    finally:
        app.instances.kill_all()


def _stop(instance: InstanceProcess) -> None:
    instance.terminate()
    assert instance.wait_exit(60) == 0, instance.log()[-3000:]


def test_records_flow_and_the_commands_work_through_sasl(secured_app: SecuredApp):
    app = secured_app
    app.produce(0, 300)
    instance = app.start("a")
    app.wait_counts(300)

    status = ok(app.cli("status", "counts_app:build_app", "--state-dir", str(instance.state_dir)))
    assert "1 live member(s)" in status, status
    assert "running" in status

    spec = "counts_app:build_app"
    savepoint = ok(app.cli("savepoint", "create", spec, "--dir", str(app.tmp_path / "sp"))).strip()
    _stop(instance)
    ok(app.cli("reset", spec, "--to-savepoint", savepoint))

    app.produce(300, 400)
    again = app.start("b")
    app.wait_counts(400)
    _stop(again)

    # Commands without an application: the librdkafka names in the environment ...
    plain_env = {k: v for k, v in app.env.items() if k not in app.security}
    listed = ok(
        app.cli("topics", "list", "-b", app.bootstrap, env={**plain_env, **librdkafka_env()})
    )
    assert app.topics["input"] in listed
    # ... or --set on the command line
    settings = [f"--set={key}={value}" for key, value in client_settings().items()]
    tail = app.cli(
        "topics",
        "tail",
        app.topics["output"],
        "-b",
        app.bootstrap,
        "--max",
        "5",
        *settings,
        env=plain_env,
    )
    assert ok(tail).count("\n") == 5

    for shown in (status, instance.log(), again.log(), tail.stderr):
        assert PASSWORD not in shown


def test_a_wrong_password_stops_an_instance_and_the_commands_quickly(sasl_kafka, tmp_path):
    app = SecuredApp(sasl_kafka, tmp_path, password=WRONG_PASSWORD)
    try:
        started = time.monotonic()
        instance = app.start("wrong")
        code = instance.wait_exit(FAILS_WITHIN_S + 30)
        took = time.monotonic() - started
    finally:
        app.instances.kill_all()
    log = instance.log()
    assert code != 0, log[-3000:]
    assert took < FAILS_WITHIN_S, log[-3000:]
    error = log.strip().splitlines()[-1]
    assert f"authentication with Kafka at {app.bootstrap} failed" in error, log[-3000:]
    assert f"sasl_username {USERNAME} from KSTREAMY_SASL_USERNAME" in error
    assert "Authentication failed" in error  # the broker's words
    assert WRONG_PASSWORD not in log

    spec = "counts_app:build_app"
    for command in (
        ("status", spec),
        ("savepoint", "create", spec, "--dir", str(tmp_path / "sp")),
        ("topics", "list", "--app", spec),
    ):
        started = time.monotonic()
        result = app.cli(*command)
        took = time.monotonic() - started
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert took < FAILS_WITHIN_S, f"{command}: {took:.0f}s\n{output}"
        assert f"authentication with Kafka at {app.bootstrap} failed" in " ".join(output.split())
        assert WRONG_PASSWORD not in output


def test_no_security_settings_on_a_sasl_listener_fail_with_an_error(sasl_kafka, tmp_path):
    """A client that does not authenticate at all is not left hanging either."""
    env = {**app_env(sasl_kafka.bootstrap_servers, "plain", tmp_path / "s")}
    started = time.monotonic()
    result = kstreamy(env, "topics", "list", "-b", sasl_kafka.bootstrap_servers, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stdout
    assert took < FAILS_WITHIN_S
    assert f"cannot reach Kafka at {sasl_kafka.bootstrap_servers}" in result.stderr
    assert "its listener may expect TLS or SASL: security_protocol is PLAINTEXT" in result.stderr
