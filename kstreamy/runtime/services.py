"""The optional servers that run next to the loop: Prometheus metrics and interactive queries.

Both are off unless their port is configured, run on their own threads, and only read what the
loop maintains anyway (counters, the task map, the stores under the task manager's store lock).
The loop-thread work they read (the consumer lag sample) runs from :meth:`Services.tick`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kstreamy.config import AppConfig
from kstreamy.runtime.consumer_lag import LagSampler
from kstreamy.runtime.instance_clients import InstanceClients
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.status_report import StatusReporter
from kstreamy.runtime.task_manager import TaskManager

log = logging.getLogger("kstreamy.instance")


class Services:
    def __init__(self) -> None:
        self._running: list[Any] = []
        self._on_loop: list[Callable[[], None]] = []

    @classmethod
    def start(
        cls,
        config: AppConfig,
        instance_id: str,
        metrics: Metrics,
        tasks: TaskManager,
        status: StatusReporter,
        clients: Callable[[], InstanceClients | None],
    ) -> Services:
        services = cls()
        # Sampled whether or not metrics are served: the status file shows lag too.
        lag = LagSampler(tasks, clients)
        status.lag = lag
        services._on_loop.append(lag.sample)
        try:
            if config.metrics_port:
                from kstreamy.runtime.prometheus import InstanceCollector, MetricsServer

                collector = InstanceCollector(
                    config, instance_id, metrics, tasks, status, clients, lag
                )
                services._running.append(MetricsServer(collector, config.metrics_port))
            if config.query_port:
                from kstreamy.query.server import QueryServer

                queries = QueryServer(config, instance_id, tasks, state=lambda: status.state)
                services._running.append(queries)
                services._publish_on_change(tasks, queries)
        except BaseException:
            services.stop()
            raise
        return services

    @staticmethod
    def _publish_on_change(tasks: TaskManager, queries: Any) -> None:
        previous = tasks.on_change

        def on_change() -> None:
            previous()
            try:
                queries.publish()
            except Exception as exc:  # a missed update is retried on the next change
                log.warning("publishing the query endpoint: %s", exc)

        tasks.on_change = on_change

    def tick(self) -> None:
        """Called by the loop on every round: work that must run on the loop thread."""
        for work in self._on_loop:
            work()

    def stop(self) -> None:
        for service in reversed(self._running):
            try:
                service.stop()
            except Exception as exc:
                log.warning("stopping %s: %s", type(service).__name__, exc)
        self._running.clear()
