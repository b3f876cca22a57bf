"""No topic is created by accident: every topic kstreamy writes is one it created first, with
its config, or a user topic it checked at start.

The cluster here is a strict fake that refuses writes to topics that do not exist, as a
production cluster with ``auto.create.topics.enable=false`` does (the embedded broker creates
topics on first write, so a broker-backed test there cannot show this).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import types
from pathlib import Path
from typing import Any

import pytest

from kstreamy import App
from kstreamy.errors import ConfigError, MissingTopicError
from kstreamy.kafka import topics
from kstreamy.runtime import control_topic, reset_marker
from kstreamy.runtime.reset_marker import ResetMarker
from kstreamy.testing import TestDriver
from kstreamy.windows import Tumbling

REPO = Path(__file__).resolve().parents[2]


class StrictCluster:
    def __init__(self, user_topics: dict[str, int]) -> None:
        self.topics: dict[str, dict[str, Any]] = {
            name: {"partitions": n, "config": {}, "replication": None}
            for name, n in user_topics.items()
        }
        self.writes: list[str] = []

    def admin(self) -> Any:
        cluster = self

        class Admin:
            def list_topics(self, timeout: float = -1) -> Any:
                return types.SimpleNamespace(
                    cluster_id="strict",
                    topics={
                        name: types.SimpleNamespace(
                            partitions=dict.fromkeys(range(t["partitions"])), error=None
                        )
                        for name, t in cluster.topics.items()
                    },
                )

            def create_topics(self, new_topics: list[Any], operation_timeout: float = 0) -> dict:
                futures = {}
                for new in new_topics:
                    future: concurrent.futures.Future = concurrent.futures.Future()
                    cluster.topics.setdefault(
                        new.topic,
                        {
                            "partitions": new.num_partitions,
                            "config": dict(new.config),
                            "replication": new.replication_factor,
                        },
                    )
                    future.set_result(None)
                    futures[new.topic] = future
                return futures

        return Admin()

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        assert topic in self.topics, f"write to {topic}, which nobody created"
        self.writes.append(topic)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> StrictCluster:
    strict = StrictCluster({"readings": 4, "per-minute": 4, "late-readings": 1})
    monkeypatch.setattr(topics, "create_admin", lambda config: strict.admin())
    monkeypatch.setattr(topics, "METADATA_PROPAGATION_S", 0.0)
    return strict


def _windowed_app(**settings: Any) -> App:
    """A repartition, a windowed store with a changelog, an output, late records to a topic
    and bad records to the dead-letter topic: every kind of topic an instance writes."""
    app = App("owned", on_deserialization_error="dead_letter", **settings)
    (
        app.stream("readings", key_serde="str", value_serde="json")
        .group_by(lambda k, v: v["sensor"], name="by-sensor")
        .window(Tumbling(60.0), late_topic="late-readings")
        .count(store="per-minute-counts")
        .to_stream()
        .map(lambda k, v: (k.key, v))
        .to("per-minute", key_serde="str", value_serde="json")
    )
    return app


def _written_by_driver(app: App) -> set[str]:
    """Every topic the compiled topology wrote (outputs, repartition, late, dead letters) or
    logged store writes to, when fed on-time, late and undecodable records."""
    driver = TestDriver(app)
    for ts in (10.0, 20.0, 200.0, 30.0):  # 30.0 is late: its window closed at 200.0
        driver.pipe("readings", "r", {"sensor": "s1"}, timestamp=ts)
    driver.pipe_raw("readings", b"r", b"not json", timestamp=210.0)
    written = set(driver._outputs)
    for task in driver._tasks.values():
        if task.state is not None:
            written |= {
                t.changelog_topic for t in task.state.transactions.values() if t.changelog_topic
            }
    driver.close()
    return written


def test_an_instance_creates_every_topic_it_writes_before_the_first_write(cluster):
    app = _windowed_app()
    plan = topics.prepare_topics(app.topology, app.config)
    written = _written_by_driver(app)
    assert {"per-minute", "late-readings", "owned-dlq", "owned-by-sensor-repartition"} <= written
    assert "owned-per-minute-counts-changelog" in written
    assert written <= set(cluster.topics)
    created = {t: cluster.topics[t] for t in cluster.topics if t.startswith("owned-")}
    assert created["owned-per-minute-counts-changelog"]["config"] == {"cleanup.policy": "compact"}
    assert created["owned-reset"]["config"] == {"cleanup.policy": "compact"}
    assert created["owned-control"]["config"]["cleanup.policy"] == "delete"
    changelog_partitions = created["owned-per-minute-counts-changelog"]["partitions"]
    assert changelog_partitions == plan.partitions[1] == 4
    assert set(plan.internal) <= set(created)


def test_replication_factor_and_topic_config_reach_every_created_topic(cluster):
    app = _windowed_app(replication_factor=3, topic_config={"min.insync.replicas": 2})
    topics.prepare_topics(app.topology, app.config)
    created = {t: v for t, v in cluster.topics.items() if t.startswith("owned-")}
    assert len(created) == 5  # repartition, changelog, control, reset, dead letters
    for name, topic in created.items():
        assert topic["replication"] == 3, name
        assert topic["config"]["min.insync.replicas"] == "2", name
    assert created["owned-per-minute-counts-changelog"]["config"]["cleanup.policy"] == "compact"


def test_the_broker_default_replication_factor_is_the_default(cluster):
    app = _windowed_app()
    topics.prepare_topics(app.topology, app.config)
    assert cluster.topics["owned-control"]["replication"] == -1


def test_a_missing_output_topic_stops_the_start_naming_it(cluster):
    del cluster.topics["late-readings"]
    app = _windowed_app()
    with pytest.raises(MissingTopicError, match=r"output topic\(s\) not found .*late-readings"):
        topics.prepare_topics(app.topology, app.config)
    assert not [t for t in cluster.topics if t.startswith("owned-")], "created nothing"


def test_an_internal_topic_with_other_partitions_is_refused(cluster):
    cluster.topics["owned-per-minute-counts-changelog"] = {
        "partitions": 8,
        "config": {},
        "replication": None,
    }
    app = _windowed_app()
    with pytest.raises(Exception, match="owned-per-minute-counts-changelog has 8 partitions"):
        topics.prepare_topics(app.topology, app.config)


def test_the_first_reset_creates_the_reset_topic_before_writing_the_marker(
    cluster, monkeypatch: pytest.MonkeyPatch
):
    class Producer:
        def produce(self, topic, value, key, partition, on_delivery):
            cluster.produce(topic)
            self.record = json.loads(value)

        def flush(self, timeout):
            return 0

    producer = Producer()
    monkeypatch.setattr(reset_marker, "create_client", lambda *args: producer)
    app = _windowed_app()
    reset_marker.write_marker(app.config, ResetMarker("g1", "in_progress", "earliest", 0.0))
    assert cluster.writes == ["owned-reset"]
    assert cluster.topics["owned-reset"]["config"] == {"cleanup.policy": "compact"}
    assert producer.record["generation"] == "g1"


def test_the_control_topic_is_created_by_whoever_writes_it_first(cluster):
    app = _windowed_app()
    channel = object.__new__(control_topic.ControlChannel)
    channel.config = app.config
    channel.ensure_topic()
    assert cluster.topics["owned-control"]["partitions"] == 1


def test_topic_config_cannot_change_the_cleanup_policy_or_outnumber_the_replicas():
    with pytest.raises(ConfigError, match=r"cannot set cleanup\.policy"):
        App("x", topic_config={"cleanup.policy": "delete"})
    with pytest.raises(ConfigError, match=r"min\.insync\.replicas=3 is more than replication"):
        App("x", replication_factor=2, topic_config={"min.insync.replicas": "3"})
    with pytest.raises(ConfigError, match="replication_factor must be >= 1"):
        App("x", replication_factor=0)


WRITERS = {
    # file: the topics it writes and who creates them
    "kstreamy/runtime/producer.py": "outputs (checked at start), internal topics (owned_topics)",
    "kstreamy/runtime/stateless.py": "a sink's topic: an output or a repartition topic",
    "kstreamy/runtime/otel_records.py": "a sink's topic, passed on with trace context headers",
    "kstreamy/runtime/changelog.py": "changelogs (owned_topics, from the topic plan)",
    "kstreamy/runtime/control_topic.py": "the control topic (ControlChannel.ensure_topic)",
    "kstreamy/runtime/reset_marker.py": "the reset topic (write_marker creates it)",
    "kstreamy/query/endpoints.py": "the endpoints topic (create_endpoints_topic)",
    "kstreamy/ops/kafka_io.py": "changelogs and repartition topics the reset re-created",
    "kstreamy/testing/topics.py": "test helpers: topics the caller created",
    "kstreamy/testing/growth.py": "test helpers: a topic it creates itself",
    "cli/topics.py": "`kstreamy topics produce`: a user topic named on the command line",
    "cli/demo/world.py": "the demo's topics, which it creates",
    "cli/demo/scenarios.py": "the demo's topics, through world.py",
}


def test_every_place_that_produces_is_one_whose_topics_are_accounted_for():
    """A new write path must be added to WRITERS with where its topic is created."""
    producing = {
        str(path.relative_to(REPO))
        for folder in ("kstreamy", "cli")
        for path in (REPO / folder).rglob("*.py")
        if re.search(r"\bproduce\(", path.read_text())
    }
    assert producing == set(WRITERS)
