"""Which broker the suite runs against."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable


@dataclasses.dataclass
class BrokerHandle:
    bootstrap_servers: str
    kind: str  # "tansu" or "kafka"
    stop: Callable[[], None]
    pid: int | None = None
    """The broker's process, when the suite started it (so a test can freeze it)."""


def start_test_broker() -> BrokerHandle:
    external = os.environ.get("KSTREAMY_BOOTSTRAP")
    if external:
        # The broker's pid, if given, lets the outage tests freeze it (SIGSTOP) as they do the
        # embedded one; it must be a process on this machine.
        pid = os.environ.get("KSTREAMY_BROKER_PID")
        return BrokerHandle(external, "kafka", lambda: None, int(pid) if pid else None)
    if os.environ.get("KSTREAMY_TEST_BROKER") == "testcontainers":
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft()
        container.start()
        return BrokerHandle(container.get_bootstrap_server(), "kafka", container.stop)
    from kstreamy.testing.broker import EmbeddedBroker

    embedded = EmbeddedBroker()
    embedded.start()
    return BrokerHandle(embedded.bootstrap_servers, "tansu", embedded.stop, embedded.pid)
