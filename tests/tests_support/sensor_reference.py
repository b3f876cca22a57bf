"""What the sensors example must output, computed from scratch from its readings.

Shared by its test-driver test and its broker test. Readings are ``(sensor, ts, celsius)``;
windows are keyed ``(sensor, start_ms, end_ms)``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

Reading = tuple[str, int, float]
WindowKey = tuple[str, int, int]


def expected_minutes(readings: list[Reading]) -> dict[WindowKey, dict[str, Any]]:
    """Stats of the 1-minute tumbling windows."""
    minutes: dict[WindowKey, list[float]] = defaultdict(list)
    for sensor, ts, celsius in readings:
        start = ts // 60 * 60
        minutes[sensor, start * 1000, (start + 60) * 1000].append(celsius)
    return {
        window: {
            "n": len(values),
            "avg": round(sum(round(c * 100) for c in values) / len(values) / 100, 2),
            "min": min(values),
            "max": max(values),
        }
        for window, values in minutes.items()
    }


def expected_peaks(readings: list[Reading], diff_ms: int = 30_000) -> dict[WindowKey, float]:
    """Max of Kafka Streams' sliding windows, from their definition: ``[t - diff, t]`` for
    every reading, and ``[p + 1, p + 1 + diff]`` (in ms) after a reading that a later one
    follows within ``diff + 1``."""
    by_sensor: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for sensor, ts, celsius in readings:
        by_sensor[sensor].append((ts * 1000, celsius))
    peaks = {}
    for sensor, points in by_sensor.items():
        times = [t for t, _ in points]
        starts = {t - diff_ms for t in times}
        starts |= {p + 1 for p in times if any(p < r <= p + 1 + diff_ms for r in times)}
        for start in starts:
            inside = [c for t, c in points if start <= t <= start + diff_ms]
            peaks[sensor, start, start + diff_ms] = max(inside)
    return peaks
