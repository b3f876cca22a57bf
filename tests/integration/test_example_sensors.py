"""The sensors example on the broker: two instance processes over four partitions, readings
produced out of order; the final windows are checked against a computation from scratch."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from kstreamy.partitioner import partition_for
from kstreamy.testing.topics import create_topics, produce, read_topic
from tests_support.sensor_reference import expected_minutes, expected_peaks

pytestmark = pytest.mark.integration

START = 1700000040  # a minute boundary
SENSORS = [f"sensor-{n}" for n in range(8)]
OUT_OF_ORDERNESS = 10.0  # the example's bound: readings delayed this much are still on time


def readings() -> list[tuple[str, int, float]]:
    rng = random.Random(11)
    out = []
    for sensor in SENSORS:
        ts = START + rng.randint(0, 10)
        while ts < START + 180:
            out.append((sensor, ts, round(rng.uniform(-5.0, 35.0), 1)))
            ts += rng.randint(2, 12)
    return out


def encode(sensor: str, ts: int, celsius: float) -> tuple[bytes, bytes]:
    return sensor.encode(), json.dumps({"ts": ts, "celsius": celsius}).encode()


def read_windows(bootstrap: str, topic: str, count: int) -> tuple[dict, int]:
    """(sensor, start_ms, end_ms) -> value of the first ``count`` results, and how many were
    read."""
    records = read_topic(bootstrap, topic, lambda rs: len(rs) >= count, timeout=45)
    windows = {}
    for record in records:
        key = json.loads(record.key())
        windows[key["key"], key["start_ms"], key["end_ms"]] = json.loads(record.value())
    return windows, len(records)


def test_two_instances_compute_the_same_windows_as_from_scratch(bootstrap, instances):
    suffix = f"-{uuid.uuid4().hex[:8]}"
    create_topics(
        bootstrap,
        {
            f"{topic}{suffix}": 4
            for topic in ("readings", "sensor-stats-1m", "sensor-max-30s", "late-readings")
        },
    )
    for name in ("a", "b"):
        instances.start(
            "example_app", f"sensors{suffix}", name=name, example="sensors", suffix=suffix
        ).wait_running()

    # Every partition, so both instances, has sensors (and so windows to close).
    assert {partition_for(s.encode(), 4) for s in SENSORS} == {0, 1, 2, 3}
    data = readings()
    rng = random.Random(3)
    shuffled = sorted(data, key=lambda r: r[1] + rng.uniform(0.0, OUT_OF_ORDERNESS))
    assert shuffled != sorted(data, key=lambda r: r[1])
    produce(bootstrap, f"readings{suffix}", (encode(*r) for r in shuffled))
    # The watermark is per partition: the next reading of every sensor, well after the rest,
    # closes the windows of its partition (its own windows stay open).
    end = max(ts for _, ts, _ in data)
    produce(bootstrap, f"readings{suffix}", (encode(s, end + 100, 20.0) for s in SENSORS))

    minutes = expected_minutes(data)
    peaks = expected_peaks(data)
    got_minutes, read = read_windows(bootstrap, f"sensor-stats-1m{suffix}", len(minutes))
    assert read == len(minutes)  # one final result per window
    assert got_minutes == minutes
    got_peaks, read = read_windows(bootstrap, f"sensor-max-30s{suffix}", len(peaks))
    assert read == len(peaks)
    assert got_peaks == peaks
