"""The soak's offline expectation agrees with its topology (tests/soak/flow.py against
tests/apps/soak_app.py in the TestDriver), so a difference found by a soak run on a broker is
the runtime's, not a mistake in the expectation."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest
from soak import flow

from kstreamy.testing import TestDriver
from tests_support.cluster_flow import Seen

APPS = Path(__file__).resolve().parent.parent / "apps"
PARTITIONS = 3


@pytest.fixture
def soak_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    params = {
        "app_id": "soak-expectation",
        "state_dir": str(tmp_path),
        "input": "in",
        "windows": "windows",
        "counts": "counts",
        "alerts": "alerts",
        "ooo": flow.OOO,
        "timeout": flow.TIMEOUT,
    }
    monkeypatch.setenv("KSTREAMY_TEST_APP", json.dumps(params))
    monkeypatch.syspath_prepend(str(APPS))
    return importlib.import_module("soak_app").build_app()


def test_the_offline_expectation_is_what_the_topology_computes(soak_app) -> None:
    driver = TestDriver(soak_app, partitions=PARTITIONS)
    start, total = flow.start_time(), 6000
    for n in range(total):
        key, value = flow.record(n, start)
        driver.pipe_raw("in", key, value, partition=int(key[1:]) % PARTITIONS)
    for partition in range(PARTITIONS):
        key, value = flow.flush_record(start)
        driver.pipe_raw("in", key, value, partition=partition)
    out = {
        topic: [Seen(0.0, r.raw_key, r.raw_value, 0, 0) for r in driver.records(topic)]
        for topic in ("windows", "counts", "alerts")
    }
    assert out["windows"] and out["alerts"]
    assert flow.window_problems(out["windows"], total, start) == []
    assert flow.count_problems(out["counts"], total, PARTITIONS) == []
    assert flow.alert_problems(out["alerts"], total) == []
    assert driver.metrics.late_records_dropped == 0


def test_the_soak_tells_store_files_from_other_descriptors(tmp_path: Path):
    """Store files grow with the data; the soak judges only the other descriptors for leaks,
    so it must count files under the state directory apart from everything else."""
    from soak.probes import process_sample

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    before = process_sample(os.getpid(), state_dir)
    with (state_dir / "000001.sst").open("wb"), (tmp_path / "elsewhere").open("wb"):
        during = process_sample(os.getpid(), state_dir)
    assert before is not None and during is not None
    assert during.store_fds == before.store_fds + 1
    assert during.fds == before.fds + 2
