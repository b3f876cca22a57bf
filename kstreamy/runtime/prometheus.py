"""Prometheus exposition of an instance's counters, read at scrape time.

The loop only bumps plain ints (on :class:`~kstreamy.runtime.metrics.Metrics` and on each task);
this collector turns them into metric families when Prometheus scrapes, so the per-record path
never calls into prometheus-client. Rates (records per second per task) are Prometheus' job:
``rate(kstreamy_task_records_in_total[1m])``.

Consumer lag is sampled on the loop thread by :class:`~kstreamy.runtime.consumer_lag.LagSampler`
(the consumer must not be called from the scrape thread); end-to-end latency histograms are
kept per task by :class:`~kstreamy.runtime.latency.TaskLatency`, sampled per batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from kstreamy.config import AppConfig
from kstreamy.errors import ConfigError
from kstreamy.runtime.consumer_lag import LagSampler
from kstreamy.runtime.instance_clients import InstanceClients
from kstreamy.runtime.local_stores import LocalStores
from kstreamy.runtime.metrics import COMMIT_LATENCY_BUCKETS, Metrics
from kstreamy.runtime.status_report import StatusReporter
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.runtime.task_stats import watermark_delay_ms
from kstreamy.time.watermarks import NO_WATERMARK

log = logging.getLogger("kstreamy.metrics")

try:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        InfoMetricFamily,
    )
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - depends on the installation
    Collector = object  # type: ignore[assignment,misc]
    _MISSING = True
else:
    _MISSING = False

# Instance-wide counters: (metric name, help, Metrics attribute).
_COUNTERS = (
    ("kstreamy_records_processed", "Input records handed to tasks.", "records_processed"),
    ("kstreamy_records_skipped", "Bad records skipped by the error policy.", "records_skipped"),
    (
        "kstreamy_records_dead_lettered",
        "Bad records sent to the dead-letter topic.",
        "records_dead_lettered",
    ),
    (
        "kstreamy_late_records_dropped",
        "Records that arrived after their window closed (behind the watermark), dropped.",
        "late_records_dropped",
    ),
    (
        "kstreamy_late_records_routed",
        "Records that arrived after their window closed, written to the late topic.",
        "late_records_routed",
    ),
    ("kstreamy_commits", "Commits that committed input offsets.", "commits"),
    (
        "kstreamy_transactions_aborted",
        "Aborted transactions (exactly-once).",
        "transactions_aborted",
    ),
    ("kstreamy_rebalances", "Assignment changes seen by this instance.", "rebalances"),
)


class InstanceCollector(Collector):
    """Reads the instance's counters, tasks and stores when Prometheus scrapes."""

    def __init__(
        self,
        config: AppConfig,
        instance_id: str,
        metrics: Metrics,
        tasks: TaskManager,
        status: StatusReporter,
        clients: Callable[[], InstanceClients | None],
        lag: LagSampler | None = None,
    ) -> None:
        self.config = config
        self.instance_id = instance_id
        self.metrics = metrics
        self.tasks = tasks
        self.status = status
        self.clients = clients
        self.lag = lag if lag is not None else LagSampler(tasks, clients)
        """Sampled on the loop thread (``lag.sample``); read here at scrape time."""
        self.stores = LocalStores(tasks)

    def collect(self) -> Iterator[Any]:
        info = InfoMetricFamily("kstreamy_instance", "The application and instance this is.")
        info.add_metric(
            [],
            {
                "application_id": self.config.application_id,
                "instance_id": self.instance_id,
                "processing_guarantee": self.config.processing_guarantee,
            },
        )
        yield info
        metrics = self.metrics
        for name, doc, attribute in _COUNTERS:
            yield CounterMetricFamily(name, doc, value=getattr(metrics, attribute))
        yield self._commit_latency()
        yield from self._tasks()
        yield self._lag_family()
        yield self._latency()
        yield from self._restoration()
        yield from self._store_sizes()
        yield from self._watermarks()

    def _commit_latency(self) -> Any:
        counts = list(self.metrics.commit_latency_counts)
        buckets, total = [], 0
        for bound, count in zip([*map(str, COMMIT_LATENCY_BUCKETS), "+Inf"], counts, strict=True):
            total += count
            buckets.append((bound, total))
        return HistogramMetricFamily(
            "kstreamy_commit_latency_seconds",
            "Time of a whole commit: flush, offsets or transaction, state, checkpoints.",
            buckets=buckets,
            sum_value=self.metrics.commit_seconds_total,
        )

    def _active(self) -> list[Any]:
        paused = self.tasks.paused
        return [t for t in list(self.tasks.tasks.values()) if t.id not in paused]

    def _tasks(self) -> Iterator[Any]:
        records_in = CounterMetricFamily(
            "kstreamy_task_records_in", "Input records processed by a task.", labels=["task"]
        )
        records_out = CounterMetricFamily(
            "kstreamy_task_records_out",
            "Records a task emitted to output and repartition topics.",
            labels=["task"],
        )
        for task in self._active():
            records_in.add_metric([task.id], task.records_in)
            records_out.add_metric([task.id], task.records_out)
        yield records_in
        yield records_out
        states = GaugeMetricFamily(
            "kstreamy_tasks", "Tasks of this instance by state.", labels=["state"]
        )
        restoring = len(self.tasks.paused)
        states.add_metric(["running"], len(self.tasks.tasks) - restoring)
        states.add_metric(["restoring"], restoring)
        yield states

    def _lag_family(self) -> Any:
        lag = GaugeMetricFamily(
            "kstreamy_consumer_lag",
            "Records between a task's position and the partition's end, from fetch responses.",
            labels=["task", "topic", "partition"],
        )
        for sample in self.lag.samples:
            lag.add_metric([sample.task, sample.topic, str(sample.partition)], sample.lag)
        return lag

    def _latency(self) -> Any:
        family = HistogramMetricFamily(
            "kstreamy_end_to_end_latency_seconds",
            "From an input record's timestamp to its outputs' send to the producer (stage=send) "
            "or the commit of their transaction (stage=commit, exactly-once); sampled per batch.",
            labels=["task", "stage"],
        )
        for task in self._active():
            for stage, histogram in task.latency.stages.items():
                if histogram.count:
                    family.add_metric(
                        [task.id, stage], histogram.cumulative(), histogram.sum_ms / 1000
                    )
        return family

    def _restoration(self) -> Iterator[Any]:
        clients = self.clients()
        restored = clients.restorer.records_restored if clients is not None else 0
        yield CounterMetricFamily(
            "kstreamy_records_restored", "Changelog records restored into stores.", value=restored
        )
        remaining = GaugeMetricFamily(
            "kstreamy_restore_remaining_records",
            "About how many changelog records a restoring task still has to read.",
            labels=["task"],
        )
        snapshot = self.status.last_written or {}
        for task, progress in (snapshot.get("restoring") or {}).items():
            remaining.add_metric([task], progress.get("remaining", 0))
        yield remaining

    def _store_sizes(self) -> Iterator[Any]:
        keys = GaugeMetricFamily(
            "kstreamy_store_keys_estimate",
            "Approximate number of keys in a task's store (RocksDB estimate-num-keys).",
            labels=["task", "store"],
        )
        size = GaugeMetricFamily(
            "kstreamy_store_live_data_bytes",
            "Approximate live data size of a task's store (RocksDB estimate-live-data-size).",
            labels=["task", "store"],
        )
        for entry in self.stores.sizes():
            keys.add_metric([entry.task, entry.store], entry.keys)
            if entry.bytes is not None:
                size.add_metric([entry.task, entry.store], entry.bytes)
        yield keys
        yield size

    def _watermarks(self) -> Iterator[Any]:
        """Each active task's event-time watermark, for tasks whose steps use event time."""
        gauge = GaugeMetricFamily(
            "kstreamy_task_watermark_seconds",
            "A task's event-time watermark (epoch seconds).",
            labels=["task"],
        )
        delay = GaugeMetricFamily(
            "kstreamy_task_watermark_delay_seconds",
            "How far a task's event-time watermark is behind wall-clock time.",
            labels=["task"],
        )
        now_ms = time.time() * 1000
        for task in self._active():
            clock = getattr(task, "clock", None)
            if clock is not None and clock.current != NO_WATERMARK:
                gauge.add_metric([task.id], clock.current / 1000)
                behind = watermark_delay_ms(task, now_ms)
                if behind is not None:
                    delay.add_metric([task.id], behind / 1000)
        yield gauge
        yield delay


class MetricsServer:
    """The HTTP endpoint Prometheus scrapes (``/metrics`` on ``metrics_port``, all interfaces)."""

    def __init__(self, collector: InstanceCollector, port: int, host: str = "0.0.0.0") -> None:
        if _MISSING:
            raise ConfigError(
                "metrics_port needs the prometheus-client package: "
                "pip install 'kstreamy[metrics]' (or prometheus-client)"
            )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        try:
            self._server, self._thread = start_http_server(port, host, self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on port {port}: {exc}") from exc
        log.info("metrics on http://%s:%d/metrics", host, port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
