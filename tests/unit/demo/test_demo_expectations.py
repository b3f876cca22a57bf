"""The demo's offline expectation agrees with its application run by the test driver.

The demo judges live runs against ``closed_windows``; here both are computed from the same
readings without a broker, so a wrong expectation shows up as a failing test, not as a demo
that fails (or passes) for the wrong reason.
"""

from __future__ import annotations

import pytest

from kstreamy.partitioner import partition_for
from kstreamy.testing import TestDriver
from kstreamy_cli.demo import app as demo_app
from kstreamy_cli.demo.data import (
    closed_windows,
    expected_results,
    readings,
    sensors_covering,
)
from kstreamy_cli.demo.report import StepResult


def _run(monkeypatch, clock: str, version: str, batch, partitions: int = 4):
    monkeypatch.setenv("KSTREAMY_DEMO_CLOCK", clock)
    monkeypatch.setenv("KSTREAMY_DEMO_VERSION", version)
    monkeypatch.setenv("KSTREAMY_DEMO_NAMESPACE", "")
    driver = TestDriver(demo_app.build_app(), partitions=partitions)
    topics = demo_app.topics("", clock)
    for r in batch:
        driver.pipe(
            topics["readings"],
            r.sensor,
            r.value(),
            timestamp=r.arrival,
            partition=partition_for(r.sensor.encode(), partitions),
        )
    return [((w.key, round(w.start)), value) for w, value in driver.read(topics["minutes"])]


@pytest.mark.parametrize("clock", ["event", "arrival"])
def test_the_application_closes_exactly_the_windows_the_expectation_names(monkeypatch, clock):
    batch = readings(sensors_covering(4, 8), minutes=6.5, every=5.0)
    out = _run(monkeypatch, clock, "v1", batch)
    assert len(out) == len({key for key, _ in out}), "a window was written twice"
    assert dict(out) == expected_results(closed_windows(batch, 4, clock), "v1")


def test_arrival_time_windows_differ_from_event_time_windows():
    batch = readings(sensors_covering(4, 8), minutes=6.5, every=5.0)
    by_event, by_arrival = closed_windows(batch, 4, "event"), closed_windows(batch, 4, "arrival")
    assert sum(n["n"] for n in by_event.values()) > 0
    assert by_event != by_arrival


@pytest.mark.parametrize("version", sorted(demo_app.VERSIONS))
def test_every_release_writes_what_the_expectation_says(monkeypatch, version):
    batch = readings(sensors_covering(4, 4), minutes=3.5, every=5.0, seed=3)
    out = _run(monkeypatch, "event", version, batch)
    assert dict(out) == expected_results(closed_windows(batch, 4), version)


def test_only_v3_converts_fahrenheit_correctly():
    acc = {"n": 2, "sum_dc": 410, "max_dc": 250}
    assert demo_app.result("v3", acc)["max_f"] == 77.0
    assert demo_app.result("v3-bug", acc)["max_f"] == 45.0
    assert "mean_c" not in demo_app.result("v1", acc)


def test_sensors_cover_every_partition():
    for partitions in (2, 4, 8):
        names = sensors_covering(partitions, 3)
        assert {partition_for(n.encode(), partitions) for n in names} == set(range(partitions))


def test_a_step_passes_only_with_checks_and_all_of_them_passed():
    result = StepResult(1, "event time")
    assert not result.passed  # no check made: nothing was shown
    result.check("same", 1, 1)
    assert result.passed
    result.check("differ", 1, 2)
    assert not result.passed
    failed_early = StepResult(2, "failure", error="DemoFailure: timed out")
    failed_early.check("same", 1, 1)
    assert not failed_early.passed
