"""Savepoints of a stopped application, built from committed offsets and changelogs; listing,
inspecting and verifying them from the command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from kstreamy.savepoint import Savepoint
from kstreamy.serde import IntSerde, StrSerde
from kstreamy.testing.topics import produce, read_topic
from tests_support.app_cli import app_env, kstreamy, ok

pytestmark = pytest.mark.integration

KEYS = [f"key-{i:03d}" for i in range(30)]


def _events(start: int, stop: int):
    for i in range(start, stop):
        yield KEYS[i % len(KEYS)].encode(), json.dumps({"n": i}).encode()


def _latest(records) -> dict[str, int]:
    return {r.key().decode(): IntSerde().deserialize(r.value()) for r in records}


def test_offline_savepoint_holds_the_committed_state_and_offsets(
    bootstrap, make_topic, unique_name, instances, tmp_path
):
    settings = {
        "input": make_topic("in", 2),
        "output": make_topic("counts", 2),
        "sums_output": make_topic("sums", 2),
    }
    app_id = unique_name("sp")
    produce(bootstrap, settings["input"], _events(0, 900))
    instance = instances.start("counts_app", app_id, **settings)
    expected = dict(Counter(KEYS[i % len(KEYS)] for i in range(900)))
    read_topic(bootstrap, settings["output"], lambda r: _latest(r) == expected, timeout=90)
    instance.terminate()
    assert instance.wait_exit(60) == 0

    env = app_env(bootstrap, app_id, tmp_path / "cli-state", **settings)
    root = tmp_path / "savepoints"
    location = ok(kstreamy(env, "savepoint", "create", "counts_app:build_app", "--dir", str(root)))
    location = location.strip()
    assert Path(location).parent == root

    savepoint = Savepoint.open(location, app_id)
    savepoint.verify()
    manifest = savepoint.manifest
    assert manifest.mode == "offline"
    assert set(manifest.tasks) == {"0_0", "0_1"}
    assert sum(t.input_offsets[settings["input"]] for t in manifest.tasks.values()) == 900
    counts = {}
    for tid in savepoint.tasks_with_store("counts"):
        for key, value in savepoint.store_entries(tid, "counts"):
            counts[StrSerde().deserialize(key)] = IntSerde().deserialize(value)
    assert counts == expected

    listed = ok(kstreamy(env, "savepoint", "list", str(root)))
    assert manifest.savepoint_id in listed and "offline" in listed
    inspected = ok(kstreamy(env, "savepoint", "inspect", location))
    assert f"application  {app_id}" in inspected
    assert "counts" in inspected and "sums" in inspected
    verified = ok(kstreamy(env, "savepoint", "verify", location, "counts_app:build_app"))
    assert "is intact" in verified
