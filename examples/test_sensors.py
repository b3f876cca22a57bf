import json
import random

from sensors import MAX_OUT_OF_ORDERNESS, build_app

from kstreamy.testing import TestDriver
from kstreamy.windows import Windowed
from tests_support.sensor_reference import expected_minutes, expected_peaks

START = 1700000040  # a minute boundary: windows are aligned to the epoch
SENSORS = ["s1", "s2", "s3"]


def sample_readings(seed: int = 7) -> list[tuple[str, int, float]]:
    """(sensor, ts, celsius): each sensor reads every 2 to 12 s for about five minutes."""
    rng = random.Random(seed)
    readings = []
    for sensor in SENSORS:
        ts = START + rng.randint(0, 10)
        while ts < START + 300:
            readings.append((sensor, ts, round(rng.uniform(15.0, 30.0), 1)))
            ts += rng.randint(2, 12)
    return readings


def arrival_order(readings: list, seed: int) -> list:
    """Each reading delayed by up to MAX_OUT_OF_ORDERNESS: out of order, but never late."""
    rng = random.Random(seed)
    return sorted(readings, key=lambda r: r[1] + rng.uniform(0.0, MAX_OUT_OF_ORDERNESS))


def overtaken(order: list) -> int:
    """How many readings arrive after a later reading of the same sensor."""
    newest: dict[str, int] = {}
    count = 0
    for sensor, ts, _ in order:
        count += ts < newest.get(sensor, ts)
        newest[sensor] = max(newest.get(sensor, ts), ts)
    return count


def closing_readings(readings: list) -> list:
    """One reading per sensor long after the rest: it moves the watermark past every window
    of the others (a partition's watermark moves only when it has readings)."""
    end = max(ts for _, ts, _ in readings)
    return [(sensor, end + 100, 20.0) for sensor in SENSORS]


def run(order: list) -> tuple[dict, dict]:
    driver = TestDriver(build_app())
    for sensor, ts, celsius in order:
        driver.pipe("readings", sensor, {"ts": ts, "celsius": celsius})
    minutes = {(w.key, w.start_ms, w.end_ms): v for w, v in driver.read("sensor-stats-1m")}
    peaks = {(w.key, w.start_ms, w.end_ms): v for w, v in driver.read("sensor-max-30s")}
    assert driver.records("late-readings") == []
    return minutes, peaks


def test_final_windows_do_not_depend_on_arrival_order():
    readings = sample_readings()
    closing = closing_readings(readings)
    in_time_order = run(sorted(readings, key=lambda r: r[1]) + closing)
    assert in_time_order == (expected_minutes(readings), expected_peaks(readings))
    for seed in range(5):
        order = arrival_order(readings, seed)
        assert overtaken(order) > 5  # really out of order, per sensor
        assert run(order + closing) == in_time_order


def test_a_reading_later_than_grace_goes_to_the_late_topic():
    driver = TestDriver(build_app())
    driver.pipe("readings", "s1", {"ts": START + 10, "celsius": 20.0})
    driver.pipe("readings", "s1", {"ts": START + 100, "celsius": 22.0})  # watermark START + 90
    driver.pipe("readings", "s1", {"ts": START + 50, "celsius": 99.0})  # its windows closed
    late = driver.records("late-readings")
    assert [json.loads(r.raw_value)["celsius"] for r in late] == [99.0, 99.0]  # both windows
    assert {dict(r.headers)["kstreamy.late.window_start_ms"] for r in late} == {
        str((START + 0) * 1000).encode(),  # the minute [START, START + 60)
        str((START + 20) * 1000).encode(),  # its own 30 s window [START + 20, START + 50]
    }
    assert driver.read("sensor-stats-1m") == [
        (Windowed("s1", START, START + 60), {"n": 1, "avg": 20.0, "min": 20.0, "max": 20.0})
    ]
