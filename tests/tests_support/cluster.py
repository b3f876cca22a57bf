"""A multi-broker Apache Kafka cluster under test: who leads what, who coordinates what, killing
and restarting brokers with commands the environment gives, and waiting until it is healthy.

Brokers are killed and started by shell commands from the environment (``{node}`` is replaced by
the broker's node.id), so the tests work with any way of running the cluster.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

from kstreamy.kafka.clients import logging_settings
from tests_support.waiting import wait_until

BOOTSTRAP_ENV = "KSTREAMY_CLUSTER_BOOTSTRAP"
KILL_ENV = "KSTREAMY_CLUSTER_KILL_CMD"
START_ENV = "KSTREAMY_CLUSTER_START_CMD"
STOP_ENV = "KSTREAMY_CLUSTER_STOP_CMD"
REPORT_ENV = "KSTREAMY_CLUSTER_REPORT"

TRANSACTION_STATE = "__transaction_state"
CONSUMER_OFFSETS = "__consumer_offsets"


def missing_settings() -> list[str]:
    """The environment variables the cluster tests need and do not have."""
    return [name for name in (BOOTSTRAP_ENV, KILL_ENV, START_ENV) if not os.environ.get(name)]


def java_string_hashcode(text: str) -> int:
    """``String.hashCode()`` of the JVM: 31-polynomial over UTF-16 code units, as a signed int32."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def transaction_state_partition(transactional_id: str, partitions: int) -> int:
    """The ``__transaction_state`` partition whose leader coordinates ``transactional_id``
    (Kafka's ``Utils.abs(transactionalId.hashCode()) % partitionCount``; Utils.abs maps
    Integer.MIN_VALUE to 0)."""
    h = java_string_hashcode(transactional_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


@dataclass
class Cluster:
    bootstrap: str
    kill_cmd: str
    start_cmd: str
    stop_cmd: str | None = None

    def __post_init__(self) -> None:
        self.admin = AdminClient(
            {"bootstrap.servers": self.bootstrap, **logging_settings(), "socket.timeout.ms": 10000}
        )
        self.nodes: list[int] = sorted(self.metadata().brokers)
        """The brokers of the healthy cluster (all of them registered when the tests start)."""
        self.down: set[int] = set()
        """Brokers killed or stopped and not started again."""

    @classmethod
    def from_env(cls) -> Cluster:
        return cls(
            os.environ[BOOTSTRAP_ENV],
            os.environ[KILL_ENV],
            os.environ[START_ENV],
            os.environ.get(STOP_ENV) or None,
        )

    # -- metadata ----------------------------------------------------------------------------

    def metadata(self, topic: str | None = None, timeout: float = 30.0) -> ClusterMetadata:
        """Metadata, retried while a broker is down (the admin client may ask the dead one)."""

        def fetch() -> ClusterMetadata | None:
            try:
                return self.admin.list_topics(topic, timeout=5)
            except KafkaException:
                return None

        return wait_until(fetch, timeout, interval=0.5, what="cluster metadata")

    def leaders(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """(topic, partition) -> node id of its leader."""
        topic_meta = self.metadata().topics
        return {
            (topic, p.id): p.leader
            for topic in topics
            for p in topic_meta[topic].partitions.values()
        }

    def replication_factors(self, topics: list[str]) -> dict[str, set[int]]:
        topic_meta = self.metadata().topics
        return {t: {len(p.replicas) for p in topic_meta[t].partitions.values()} for t in topics}

    def busiest_leader(self, topics: list[str]) -> tuple[int, list[str]]:
        """The broker leading the most partitions of ``topics``, and which ones it leads."""
        leaders = self.leaders(topics)
        counts = Counter(leaders.values())
        node = min(counts, key=lambda n: (-counts[n], n))
        led = sorted(f"{t}[{p}]" for (t, p), n in leaders.items() if n == node)
        return node, led

    def group_coordinator(self, group_id: str, timeout: float = 60.0) -> int:
        def ask() -> int | None:
            try:
                result = self.admin.describe_consumer_groups([group_id], request_timeout=10)
                return result[group_id].result().coordinator.id
            except KafkaException:
                return None

        return wait_until(ask, timeout, interval=0.5, what=f"coordinator of group {group_id}")

    def transaction_coordinator(self, transactional_id: str) -> tuple[int, int]:
        """(node id, __transaction_state partition) coordinating ``transactional_id``."""
        partitions = self.metadata(TRANSACTION_STATE).topics[TRANSACTION_STATE].partitions
        partition = transaction_state_partition(transactional_id, len(partitions))
        return partitions[partition].leader, partition

    def unhealthy(self) -> list[str]:
        """What keeps the cluster from being healthy: missing brokers, partitions without a
        leader or with a replica out of sync. Empty when every broker is back in every ISR."""
        try:
            metadata = self.admin.list_topics(timeout=5)
        except KafkaException as exc:
            return [f"no metadata: {exc}"]
        problems = []
        if set(metadata.brokers) != set(self.nodes):
            problems.append(f"brokers {sorted(metadata.brokers)} of {self.nodes} registered")
        for name, topic in metadata.topics.items():
            if topic.error is not None:
                problems.append(f"{name}: {topic.error}")
                continue
            for p in topic.partitions.values():
                if p.leader < 0 or set(p.isrs) != set(p.replicas):
                    problems.append(f"{name}[{p.id}] leader={p.leader} isr={sorted(p.isrs)}")
        return problems

    def wait_healthy(self, timeout: float = 90.0) -> None:
        last: list[list[str]] = [[]]

        def healthy() -> bool:
            last[0] = self.unhealthy()
            return not last[0]

        try:
            wait_until(healthy, timeout, interval=0.5, what="every broker back in every ISR")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still: {last[0][:10]}") from None

    # -- brokers -----------------------------------------------------------------------------

    def kill(self, node: int) -> float:
        """SIGKILL broker ``node``; returns the monotonic time just before the kill."""
        started = time.monotonic()
        self.down.add(node)
        self._run(self.kill_cmd, node)
        return started

    def stop(self, node: int) -> float:
        """Stop broker ``node`` the way a rolling restart does (the stop command, or a kill
        when none is given); returns the monotonic time just before."""
        started = time.monotonic()
        self.down.add(node)
        self._run(self.stop_cmd or self.kill_cmd, node)
        return started

    def start(self, node: int) -> None:
        self._run(self.start_cmd, node, timeout=180)
        self.down.discard(node)

    def recover(self) -> None:
        """Start every broker left down (one at a time), then wait until all are in sync."""
        for node in sorted(self.down):
            self.start(node)
        self.wait_healthy(120)

    def _run(self, template: str, node: int, timeout: float = 60) -> None:
        command = template.format(node=node)
        done = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{command!r} failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-500:]}"
            )
