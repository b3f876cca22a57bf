"""Fixtures of the cluster tests: the cluster from the environment, topics and instances on it,
and the pauses they measured, listed at the end of the run.

The tests here run only when ``KSTREAMY_CLUSTER_BOOTSTRAP``, ``KSTREAMY_CLUSTER_KILL_CMD`` and
``KSTREAMY_CLUSTER_START_CMD`` are set (see ``test_broker_failures.py``); otherwise they are
skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests_support.cluster import Cluster, missing_settings

_PAUSES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_PAUSES] = []


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    missing = missing_settings()
    if missing:
        pytest.skip(f"needs a 3-broker Apache Kafka cluster: set {', '.join(missing)}")
    handle = Cluster.from_env()
    if len(handle.nodes) < 3:
        pytest.fail(f"{handle.bootstrap} has brokers {handle.nodes}; the cluster tests need 3")
    handle.wait_healthy(120)
    return handle


@pytest.fixture
def bootstrap(cluster: Cluster) -> str:
    """Topics and instances of these tests live on the cluster, not on the suite's broker."""
    return cluster.bootstrap


@pytest.fixture
def pause_report(request: pytest.FixtureRequest, record_property) -> Iterator:
    """``report(what, seconds, **details)``: prints a measured pause, records it as a property
    of the test (JUnit XML) and appends it to ``$KSTREAMY_CLUSTER_REPORT`` when set."""
    lines = request.config.stash[_PAUSES]

    def report(what: str, seconds: float, **details: object) -> None:
        extra = " ".join(f"{k}={v}" for k, v in details.items())
        line = f"{request.node.nodeid} {what} pause_s={seconds:.2f} {extra}".rstrip()
        print(line)
        lines.append(line)
        record_property(f"pause_s[{what}]", round(seconds, 2))
        path = os.environ.get("KSTREAMY_CLUSTER_REPORT")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    yield report


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(_PAUSES, [])
    if lines:
        terminalreporter.section("pauses in output after broker faults")
        for line in lines:
            terminalreporter.write_line(line)
