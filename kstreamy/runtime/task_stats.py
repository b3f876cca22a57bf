"""Per-task figures for ``kstreamy status``: lag, recent latency quantiles, watermark delay.

Computed when the status file is written (at most once a second) from what the loop keeps
anyway, so the loop does no work for them.
"""

from __future__ import annotations

import time
from typing import Any

from kstreamy.runtime.consumer_lag import LagSampler
from kstreamy.runtime.latency import RecentCounts, quantile
from kstreamy.runtime.task import Task
from kstreamy.time.watermarks import NO_WATERMARK

QUANTILES = {"p50": 0.5, "p99": 0.99}


def watermark_delay_ms(task: Task, now_ms: float) -> float | None:
    """How far a task's event-time watermark is behind wall-clock time; None for a task that
    does not track event time or has seen no event yet. A watermark far behind means windows
    close (and results appear) that much later than the events."""
    clock = task.clock
    if clock is None or clock.current == NO_WATERMARK:
        return None
    return now_ms - clock.current


class TaskStats:
    """Builds the ``task_stats`` part of the status file; keeps the latency baseline between
    writes so quantiles cover the last minute or two, not the instance's whole life."""

    def __init__(self, recent: RecentCounts | None = None) -> None:
        self.recent = recent or RecentCounts()

    def snapshot(
        self,
        tasks: list[Task],
        lag: LagSampler | None,
        now: float | None = None,
    ) -> dict[str, dict[str, Any]]:
        now = time.time() if now is None else now
        lags = lag.by_task() if lag is not None else {}
        current: dict[object, list[int]] = {
            (task.id, stage): list(hist.counts)
            for task in tasks
            for stage, hist in task.latency.stages.items()
        }
        recent = self.recent.since_baseline(current, now)
        out: dict[str, dict[str, Any]] = {}
        for task in tasks:
            stats: dict[str, Any] = {}
            if task.id in lags:
                stats["lag"] = lags[task.id]
            latency = {}
            for stage in task.latency.stages:
                counts = recent[(task.id, stage)]
                samples = sum(counts)
                if samples:
                    latency[stage] = {
                        name: round(quantile(counts, q) or 0.0, 1) for name, q in QUANTILES.items()
                    } | {"samples": samples}
            if latency:
                stats["latency_ms"] = latency
            delay = watermark_delay_ms(task, now * 1000)
            if delay is not None:
                stats["watermark_delay_ms"] = round(delay)
            if stats:
                out[task.id] = stats
        return out
