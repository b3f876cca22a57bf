"""The Prometheus collector reads the runtime's plain counters and stores at scrape time."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.prometheus import InstanceCollector
from kstreamy.runtime.status_report import StatusReporter
from kstreamy.serde import resolve_serde
from tests_support.local_tasks import Record, counting_app, task_manager


def _scrape(collector: InstanceCollector) -> dict[str, dict[tuple, float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def test_counters_tasks_stores_and_commit_latency_are_exposed(tmp_path):
    app = counting_app(tmp_path)
    tasks = task_manager(app, partitions=2, local=[0, 1])
    metrics = tasks.metrics
    status = StatusReporter(app.config, "inst-1", tasks, CommitManager(False, metrics), metrics)
    collector = InstanceCollector(app.config, "inst-1", metrics, tasks, status, lambda: None)
    try:
        task = tasks.tasks["0_0"]
        task.process(Record("words", 0, 0, b"w", b"w"), "words")  # count() emits one update
        task.records_in += 7  # the loop counts input once per run of records
        metrics.records_dead_lettered = 2
        metrics.late_records_dropped = 3
        metrics.observe_commit(0.003)
        metrics.observe_commit(0.2)
        one = resolve_serde("int").serialize(1)
        tasks.tasks["0_1"].state.stores["counts"].write_batch(
            [(f"k{i}".encode(), one) for i in range(50)]
        )
        tasks.tasks["0_1"].state.stores["counts"].flush()
        tasks.paused["0_1"] = None  # restoring: not counted as running
        status.write()
        samples = _scrape(collector)
    finally:
        tasks.close_all()

    assert samples["kstreamy_task_records_in_total"] == {(("task", "0_0"),): 7.0}
    assert samples["kstreamy_task_records_out_total"] == {(("task", "0_0"),): 1.0}
    assert samples["kstreamy_records_dead_lettered_total"] == {(): 2.0}
    assert samples["kstreamy_late_records_dropped_total"] == {(): 3.0}
    assert samples["kstreamy_tasks"] == {
        (("state", "restoring"),): 1.0,
        (("state", "running"),): 1.0,
    }
    assert samples["kstreamy_commit_latency_seconds_count"] == {(): 2.0}
    buckets = samples["kstreamy_commit_latency_seconds_bucket"]
    assert buckets[(("le", "0.005"),)] == 1.0 and buckets[(("le", "0.25"),)] == 2.0
    assert samples["kstreamy_instance_info"] == {
        (
            ("application_id", "local-tasks"),
            ("instance_id", "inst-1"),
            ("processing_guarantee", "at_least_once"),
        ): 1.0
    }
    assert "kstreamy_consumer_lag" not in samples  # no consumer, no samples


def test_store_sizes_come_from_rocksdb_estimates(tmp_path):
    app = counting_app(tmp_path)
    tasks = task_manager(app, partitions=1, local=[0])
    metrics = tasks.metrics
    status = StatusReporter(app.config, "i", tasks, CommitManager(False, metrics), metrics)
    collector = InstanceCollector(app.config, "i", metrics, tasks, status, lambda: None)
    try:
        store = tasks.tasks["0_0"].state.stores["counts"]
        store.write_batch([(f"key-{i:05d}".encode(), os.urandom(100)) for i in range(2000)])
        store.flush()
        samples = _scrape(collector)
    finally:
        tasks.close_all()
    labels = (("store", "counts"), ("task", "0_0"))
    assert 1000 <= samples["kstreamy_store_keys_estimate"][labels] <= 4000
    assert samples["kstreamy_store_live_data_bytes"][labels] > 150_000  # incompressible values


def test_event_time_watermarks_of_tasks_are_exposed(tmp_path):
    app = counting_app(tmp_path)  # has windowed steps: its tasks keep an event-time clock
    tasks = task_manager(app, partitions=1, local=[0])
    metrics = tasks.metrics
    status = StatusReporter(app.config, "i", tasks, CommitManager(False, metrics), metrics)
    collector = InstanceCollector(app.config, "i", metrics, tasks, status, lambda: None)
    try:
        assert "kstreamy_task_watermark_seconds" not in _scrape(collector)  # no event seen yet
        task = tasks.tasks["0_0"]
        task.process(Record("words", 0, 0, b"w", b"w"), "words")
        task.advance_stream_time()
        samples = _scrape(collector)
    finally:
        tasks.close_all()
    (watermark,) = samples["kstreamy_task_watermark_seconds"].values()
    assert watermark == pytest.approx(1_700_000_000.0, abs=60)
