"""The Grafana dashboard in docker/ queries only metrics and labels the exposition emits."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.consumer_lag import LagSampler
from kstreamy.runtime.prometheus import InstanceCollector
from kstreamy.runtime.status_report import StatusReporter
from tests_support.local_tasks import Record, counting_app, task_manager

DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana-dashboard.json"
METRIC = re.compile(r"\b(kstreamy_[a-zA-Z0-9_:]*)")
GROUPING = re.compile(r"\b(?:by|on|group_left)\s*\(([^)]*)\)")
TARGET_LABELS = {"instance", "job"}
"""Added by Prometheus to every scraped series, not by the exposition."""


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if "query" in v]
    return exprs


def _exposition(tmp_path) -> dict[str, set[str]]:
    """Sample names (with _bucket/_sum/_count) -> their label names, after some activity."""
    app = counting_app(tmp_path)
    tasks = task_manager(app, partitions=2, local=[0, 1])
    metrics = tasks.metrics
    status = StatusReporter(app.config, "i", tasks, CommitManager(True, metrics), metrics)
    consumer = SimpleNamespace(get_watermark_offsets=lambda tp, cached=False: (0, 10))
    restorer = SimpleNamespace(
        busy=True, records_restored=4, progress=lambda: {"0_1": {"restored": 4, "remaining": 5}}
    )
    clients = SimpleNamespace(consumer=consumer, secondary=None, restorer=restorer)
    lag = LagSampler(tasks, lambda: clients)
    collector = InstanceCollector(app.config, "i", metrics, tasks, status, lambda: clients, lag)
    try:
        task = tasks.tasks["0_0"]
        task.process(Record("words", 0, 3, b"w", b"w"), "words")
        task.records_in += 1
        task.advance_stream_time()
        now_ms = time.time() * 1000
        task.latency.saw(int(now_ms) - 30, int(now_ms) - 10)
        task.latency.sent(now_ms)
        task.latency.committed(now_ms + 5)
        for name in ("records_processed", "records_skipped", "records_dead_lettered"):
            setattr(metrics, name, 1)
        metrics.late_records_dropped = metrics.late_records_routed = 1
        metrics.observe_commit(0.01)
        lag.sample()
        status.restorer = restorer
        status.write()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        text = generate_latest(registry).decode()
    finally:
        tasks.close_all()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def test_every_metric_the_dashboard_queries_is_exposed(tmp_path):
    exposed = _exposition(tmp_path)
    exprs = _expressions()
    assert len(exprs) >= 6
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    # The panels the dashboard promises, by the series they read.
    assert {
        "kstreamy_consumer_lag",
        "kstreamy_task_records_in_total",
        "kstreamy_end_to_end_latency_seconds_bucket",
        "kstreamy_restore_remaining_records",
        "kstreamy_late_records_dropped_total",
    } <= used
    missing = sorted(used - set(exposed))
    assert not missing, f"the dashboard queries metrics nothing exposes: {missing}"
    for expr in exprs:
        names = METRIC.findall(expr)
        assert names, f"no kstreamy metric in {expr!r}"
        available = set().union(*(exposed[n] for n in names)) | TARGET_LABELS
        for group in GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in group.split(","))):
                assert label in available, f"{label!r} in {expr!r} is on none of {names}"


def test_the_exposition_has_latency_per_task_and_stage(tmp_path):
    exposed = _exposition(tmp_path)
    for suffix in ("_bucket", "_sum", "_count"):
        assert exposed[f"kstreamy_end_to_end_latency_seconds{suffix}"] >= {"task", "stage"}
    assert exposed["kstreamy_task_watermark_delay_seconds"] == {"task"}
    assert exposed["kstreamy_consumer_lag"] == {"task", "topic", "partition"}
