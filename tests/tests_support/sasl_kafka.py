"""A single-node Apache Kafka (KRaft) with a SASL_PLAINTEXT listener, for the security tests.

The embedded broker cannot serve here: it offers SCRAM only, and its users live in its storage,
which an in-memory broker cannot be given before it requires authentication. So the tests start
Apache Kafka itself from a directory with its jars (the ``libs/`` of a Kafka 3.x install),
named by ``KSTREAMY_TEST_KAFKA_LIBS``, with ``java`` on the PATH; without them they are
skipped. The node runs on free ports in a temporary directory and is stopped afterwards.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from kstreamy.kafka.clients import logging_settings
from kstreamy.testing.broker import free_port

LIBS_VARIABLE = "KSTREAMY_TEST_KAFKA_LIBS"
USERNAME, PASSWORD = "alice", "alice-secret"
MECHANISM = "PLAIN"
_RESERVED_PORTS = range(19292, 19594)
"""Ports other brokers on the development machines use."""


def unavailable_reason() -> str | None:
    """Why no SASL broker can be started here, or None when one can."""
    libs = os.environ.get(LIBS_VARIABLE)
    if not libs:
        return (
            f"needs Apache Kafka: set {LIBS_VARIABLE} to a directory with Apache Kafka's jars "
            "(the libs/ of a Kafka 3.x install) to run the SASL tests"
        )
    if not any(Path(libs).glob("kafka_*.jar")):
        return f"{LIBS_VARIABLE}={libs} holds no kafka_*.jar"
    if shutil.which("java") is None:
        return "needs java on the PATH to start Apache Kafka"
    return None


def client_settings(username: str = USERNAME, password: str = PASSWORD) -> dict[str, str]:
    """librdkafka properties of a client of the SASL listener."""
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": MECHANISM,
        "sasl.username": username,
        "sasl.password": password,
    }


def _port() -> int:
    while True:
        port = free_port()
        if port not in _RESERVED_PORTS:
            return port


def _cluster_id() -> str:
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class SaslKafka:
    """One combined broker+controller node; ``start()`` returns its bootstrap address."""

    def __init__(self, libs: str, workdir: Path) -> None:
        self.libs = libs
        self.workdir = workdir
        self.port, self.controller_port = _port(), _port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "kafka.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            'username="admin" password="admin-secret" user_admin="admin-secret" '
            f'user_{USERNAME}="{PASSWORD}";'
        )
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"SASL_PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
        }
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        (self.workdir / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.request.logger=WARN\n"
            "log4j.logger.state.change.logger=WARN\n"
        )
        return path

    def _java(self, heap: str) -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def start(self, timeout: float = 120.0) -> str:
        config = self._write_config()
        with open(self.log_path, "ab") as log:
            subprocess.run(
                [
                    *self._java("256m"),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
            self._process = subprocess.Popen(
                [*self._java("512m"), "kafka.Kafka", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)
        return self.bootstrap_servers

    def _wait_ready(self, timeout: float) -> None:
        """Until an authenticated client gets metadata with a broker in it."""
        admin = AdminClient(
            {"bootstrap.servers": self.bootstrap_servers, **logging_settings(), **client_settings()}
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"Kafka exited during start-up:\n{self.log_tail()}")
            try:
                if admin.list_topics(timeout=2).brokers:
                    time.sleep(1)  # the port opens a moment before the broker serves requests
                    return
            except Exception:  # not up yet
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Kafka not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
