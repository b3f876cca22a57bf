"""Which broker the suite runs against."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass
class BrokerHandle:
    bootstrap_servers: str
    kind: str  # "tansu" or "kafka"
    stop: Callable[[], None]
    pid: int | None = None
    """The broker's process, when the suite started it (so a test can freeze it)."""
    stop_command: str | None = None
    start_command: str | None = None
    """Shell commands that stop the broker and start it again with its data (an external
    broker only: the embedded one keeps nothing); the start command returns once it answers."""
    pid_file: str | None = None

    @property
    def can_restart(self) -> bool:
        return bool(self.stop_command and self.start_command)

    def stop_broker(self) -> None:
        assert self.stop_command is not None
        subprocess.run(self.stop_command, shell=True, check=True, timeout=120)

    def start_broker(self) -> None:
        assert self.start_command is not None
        subprocess.run(self.start_command, shell=True, check=True, timeout=300)
        self.pid = _read_pid(self.pid_file)  # a new process: the old pid is gone


def start_test_broker() -> BrokerHandle:
    external = os.environ.get("KSTREAMY_BOOTSTRAP")
    if external:
        # The broker's pid, if given, lets the outage tests freeze it (SIGSTOP) as they do the
        # embedded one; it must be a process on this machine.
        pid_file = os.environ.get("KSTREAMY_BROKER_PID_FILE")
        pid = os.environ.get("KSTREAMY_BROKER_PID")
        return BrokerHandle(
            external,
            "kafka",
            lambda: None,
            int(pid) if pid else _read_pid(pid_file),
            stop_command=os.environ.get("KSTREAMY_BROKER_STOP_CMD"),
            start_command=os.environ.get("KSTREAMY_BROKER_START_CMD"),
            pid_file=pid_file,
        )
    if os.environ.get("KSTREAMY_TEST_BROKER") == "testcontainers":
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft()
        container.start()
        return BrokerHandle(container.get_bootstrap_server(), "kafka", container.stop)
    from kstreamy.testing.broker import EmbeddedBroker

    embedded = EmbeddedBroker()
    embedded.start()
    return BrokerHandle(embedded.bootstrap_servers, "tansu", embedded.stop, embedded.pid)


def _read_pid(pid_file: str | None) -> int | None:
    return int(Path(pid_file).read_text().strip()) if pid_file else None
