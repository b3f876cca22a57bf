"""The demo's input, and what its output must be, computed offline from the input alone.

Readings are generated every few seconds per sensor and reach Kafka up to
``MAX_DELAY_SECONDS`` later, so they are produced in arrival order: out of order by event time.
The expectation is computed here with plain Python, independently of the library: which
one-minute windows the final watermark closes, and each window's count, max and mean.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kstreamy.partitioner import partition_for
from kstreamy_cli.demo.app import MAX_DELAY_SECONDS, WINDOW_SECONDS

START = 1_767_225_600  # 2026-01-01T00:00:00Z, a minute boundary
WindowKey = tuple[str, int]  # (sensor, window start in seconds)


@dataclass(frozen=True)
class Reading:
    sensor: str
    ts: float  # when it was measured (event time)
    arrival: float  # when it reached Kafka (its record timestamp)
    celsius: float

    def value(self) -> dict[str, Any]:
        return {"sensor": self.sensor, "ts": self.ts, "celsius": self.celsius}


def sensors_covering(partitions: int, count: int) -> list[str]:
    """``count`` sensor names that together land on every partition, so that every partition's
    watermark moves (a partition that never gets a reading would hold the watermark back)."""
    chosen: list[str] = []
    covered: set[int] = set()
    i = 0
    while len(chosen) < count or len(covered) < partitions:
        name = f"sensor-{i:02d}"
        p = partition_for(name.encode(), partitions)
        if len(chosen) < count or p not in covered:
            chosen.append(name)
            covered.add(p)
        i += 1
    return chosen


def readings(
    sensors: list[str], minutes: float, every: float = 5.0, seed: int = 7
) -> list[Reading]:
    """Readings of ``minutes`` of event time, in the order they reach Kafka."""
    rng = random.Random(seed)
    out = []
    for index, sensor in enumerate(sensors):
        base = 18 + index % 7
        t = START + rng.uniform(0, every)
        while t < START + minutes * 60:
            celsius = round(base + rng.gauss(0, 4), 1)
            delay = rng.uniform(0, MAX_DELAY_SECONDS * 0.9)
            out.append(Reading(sensor, round(t, 3), round(t + delay, 3), celsius))
            t += every
    out.sort(key=lambda r: (r.arrival, r.sensor))
    return out


def _watermarks_ms(batch: list[Reading], partitions: int, clock: str) -> dict[int, int]:
    """Each partition's watermark once ``batch`` is read: the largest time seen minus the
    allowed out-of-orderness (none for arrival time, which only increases). Each partition is
    a task of its own here, so its windows close on its own watermark."""
    allowed = round(MAX_DELAY_SECONDS * 1000) if clock == "event" else 0
    newest: dict[int, int] = {}
    for r in batch:
        p = partition_for(r.sensor.encode(), partitions)
        t = round((r.ts if clock == "event" else r.arrival) * 1000)
        newest[p] = max(newest.get(p, t), t)
    return {p: t - allowed for p, t in newest.items()}


def closed_windows(
    batch: list[Reading], partitions: int, clock: str = "event"
) -> dict[WindowKey, dict[str, int]]:
    """The windows a run over ``batch`` closes, with their aggregates (the store's layout)."""
    watermarks = _watermarks_ms(batch, partitions, clock)
    size_ms = round(WINDOW_SECONDS * 1000)
    windows: dict[WindowKey, dict[str, int]] = defaultdict(
        lambda: {"n": 0, "sum_dc": 0, "max_dc": -(10**9)}
    )
    for r in batch:
        start_ms = round((r.ts if clock == "event" else r.arrival) * 1000) // size_ms * size_ms
        if start_ms + size_ms <= watermarks[partition_for(r.sensor.encode(), partitions)]:
            acc = windows[(r.sensor, start_ms // 1000)]
            tenths = round(r.celsius * 10)
            acc["n"] += 1
            acc["sum_dc"] += tenths
            acc["max_dc"] = max(acc["max_dc"], tenths)
    return dict(windows)


def expected_results(
    windows: dict[WindowKey, dict[str, int]], version: str
) -> dict[WindowKey, dict[str, Any]]:
    """Each window's result as ``version`` writes it, from the offline aggregates."""
    out: dict[WindowKey, dict[str, Any]] = {}
    for key, acc in windows.items():
        value: dict[str, Any] = {"readings": acc["n"], "max_c": acc["max_dc"] / 10}
        if version != "v1":
            value["mean_c"] = round(acc["sum_dc"] / acc["n"] / 10, 2)
        if version in ("v3", "v3-bug"):
            plus = 32 if version == "v3" else 0
            value["max_f"] = round(acc["max_dc"] / 10 * 9 / 5 + plus, 1)
        out[key] = value
    return out


def event_span_seconds(batch: list[Reading]) -> float:
    times = [r.ts for r in batch]
    return max(times) - min(times) if times else 0.0
