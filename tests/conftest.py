"""Fixtures shared by the whole suite.

The broker is the embedded Tansu by default; ``KSTREAMY_BOOTSTRAP=host:port`` points every
integration test at an external Apache Kafka instead, and ``KSTREAMY_TEST_BROKER=testcontainers``
starts Kafka in Docker where an engine exists. Fixtures are factories: each test makes the topics
and instance processes it needs, with unique names, so tests never share state.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstreamy.testing.topics import create_topics
from tests_support.broker import BrokerHandle, start_test_broker
from tests_support.instances import InstanceFactory


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tansu_deviation(reason): skip on the embedded Tansu broker, which deviates from "
        "Apache Kafka in the way the reason says; runs on real Kafka",
    )


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerHandle]:
    handle = start_test_broker()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(autouse=True)
def _skip_tansu_deviations(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("tansu_deviation")
    if marker is None:
        return
    handle: BrokerHandle = request.getfixturevalue("broker")
    if handle.kind == "tansu" and not os.environ.get("KSTREAMY_RUN_TANSU_DEVIATIONS"):
        pytest.skip(f"needs Apache Kafka: Tansu {marker.args[0]}")


@pytest.fixture
def bootstrap(broker: BrokerHandle) -> str:
    return broker.bootstrap_servers


@pytest.fixture
def unique_name(request: pytest.FixtureRequest):
    def make(prefix: str = "") -> str:
        base = prefix or request.node.name.split("[")[0].removeprefix("test_")[:30]
        return f"{base}-{uuid.uuid4().hex[:8]}".replace("_", "-")

    return make


@pytest.fixture
def make_topic(bootstrap: str, unique_name):
    def make(prefix: str = "", partitions: int = 4, config: dict[str, str] | None = None) -> str:
        name = unique_name(prefix)
        create_topics(bootstrap, {name: partitions}, config)
        return name

    return make


@pytest.fixture
def instances(bootstrap: str, tmp_path: Path) -> Iterator[InstanceFactory]:
    factory = InstanceFactory(bootstrap, tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


os.environ.setdefault("KSTREAMY_LOG_LEVEL", "INFO")
# Hypothesis keeps caches under ./.hypothesis by default; tests leave nothing in the work tree.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "kstreamy-hypothesis")
)
