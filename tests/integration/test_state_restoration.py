"""Changelog-backed state: restore only the tail, rebuild moved or lost state, stay correct
while instances join and leave. Real broker, real instance processes."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from kstreamy.state.checkpoint import CheckpointFile
from kstreamy.state.resources import StoreResources
from kstreamy.state.rocksdb_store import RocksDBStore
from kstreamy.testing.topics import produce, read_all, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

KEYS = [f"key-{i:03d}" for i in range(40)]


def _events(start: int, stop: int):
    for i in range(start, stop):
        yield KEYS[i % len(KEYS)].encode(), json.dumps({"n": i}).encode()


def _expected_counts(stop: int) -> dict[str, int]:
    return dict(Counter(KEYS[i % len(KEYS)] for i in range(stop)))


def _expected_sums(stop: int) -> dict[str, int]:
    sums: Counter[str] = Counter()
    for i in range(stop):
        sums[KEYS[i % len(KEYS)]] += i
    return dict(sums)


def _latest(records) -> dict[str, int]:
    latest = {}
    for record in records:
        latest[record.key().decode()] = int.from_bytes(record.value(), "big", signed=True)
    return latest


def _latest_json(records) -> dict[str, int]:
    return {r.key().decode(): json.loads(r.value()) for r in records}


class _CountsApp:
    """Topics and a launcher for tests/apps/counts_app.py."""

    def __init__(self, make_topic, unique_name, instances, partitions: int = 2):
        self.input = make_topic("in", partitions)
        self.output = make_topic("counts", partitions)
        self.sums = make_topic("sums", partitions)
        self.app_id = unique_name("counts")
        self.instances = instances

    def start(self, name: str, state_dir: Path | None = None):
        instance = self.instances.start(
            "counts_app",
            self.app_id,
            name=name,
            state_dir=state_dir,
            input=self.input,
            output=self.output,
            sums_output=self.sums,
        )
        return instance

    def changelog(self, store: str = "counts") -> str:
        return f"{self.app_id}-{store}-changelog"


def _wait_counts(bootstrap: str, app: _CountsApp, stop: int, timeout: float = 90) -> None:
    expected = _expected_counts(stop)
    records = read_topic(bootstrap, app.output, lambda r: _latest(r) == expected, timeout=timeout)
    assert _latest(records) == expected


def _stop(instance) -> None:
    instance.terminate()
    assert instance.wait_exit(60) == 0, instance.log()[-3000:]


def _restored(instance) -> int:
    return instance.status()["records_restored"]


def _store_contents(state_dir: Path, app_id: str, task: str, store: str) -> dict[bytes, bytes]:
    db = RocksDBStore(store, state_dir / app_id / task / store, StoreResources(8 << 20, 8 << 20))
    try:
        return dict(db.items())
    finally:
        db.close()


def test_restart_restores_only_the_changelog_tail(bootstrap, make_topic, unique_name, instances):
    app = _CountsApp(make_topic, unique_name, instances)
    produce(bootstrap, app.input, _events(0, 2000))
    first = app.start("a")
    _wait_counts(bootstrap, app, 2000)
    _stop(first)
    assert _restored(first) == 0  # a new application has nothing to restore

    # Another instance (own state dir) moves the state on while the first is down.
    other = app.start("b")
    produce(bootstrap, app.input, _events(2000, 2600))
    _wait_counts(bootstrap, app, 2600)
    _stop(other)

    checkpoints = {
        task: CheckpointFile(first.state_dir / app.app_id / task / ".checkpoint").read()
        for task in ("0_0", "0_1")
    }
    changelogs = {store: read_all(bootstrap, app.changelog(store)) for store in ("counts", "sums")}
    tail = sum(
        1
        for store, records in changelogs.items()
        for r in records
        if r.offset() >= checkpoints[f"0_{r.partition()}"][app.changelog(store)]
    )
    total = sum(len(records) for records in changelogs.values())
    assert 0 < tail < total

    again = app.start("a-again", state_dir=first.state_dir)
    produce(bootstrap, app.input, _events(2600, 2700))
    _wait_counts(bootstrap, app, 2700)
    wait_until(lambda: _restored(again) == tail, 30, what=f"{tail} records restored")
    assert f"restoring counts from {app.changelog()}" in again.log()
    _stop(again)
    assert _restored(again) == tail


def test_moved_task_is_rebuilt_identically_from_the_changelog(
    bootstrap, make_topic, unique_name, instances
):
    app = _CountsApp(make_topic, unique_name, instances)
    produce(bootstrap, app.input, _events(0, 3000))
    first = app.start("a")
    _wait_counts(bootstrap, app, 3000)
    _stop(first)

    second = app.start("b")  # empty state dir: every task restores in full
    wait_until(lambda: second.status().get("tasks") == {"0_0": "running", "0_1": "running"}, 60)
    changelog_size = sum(len(read_all(bootstrap, app.changelog(s))) for s in ("counts", "sums"))
    assert _restored(second) == changelog_size
    shown = second.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert f"pid {second.pid}: running" in shown.stdout
    assert "0_1        running" in shown.stdout
    assert f"restored     {changelog_size} records since start" in shown.stdout
    _stop(second)

    for task in ("0_0", "0_1"):
        for store in ("counts", "sums"):
            original = _store_contents(first.state_dir, app.app_id, task, store)
            rebuilt = _store_contents(second.state_dir, app.app_id, task, store)
            assert original and rebuilt == original


@pytest.mark.parametrize("damage", ["delete-task-dir", "delete-store", "truncate-files"])
def test_lost_or_damaged_local_state_is_rebuilt(
    bootstrap, make_topic, unique_name, instances, damage
):
    app = _CountsApp(make_topic, unique_name, instances, partitions=1)
    produce(bootstrap, app.input, _events(0, 1500))
    first = app.start("a")
    _wait_counts(bootstrap, app, 1500)
    _stop(first)

    store_dir = first.state_dir / app.app_id / "0_0" / "counts"
    if damage == "delete-task-dir":
        shutil.rmtree(store_dir.parent)
    elif damage == "delete-store":
        shutil.rmtree(store_dir)
    else:
        files = [
            p for p in store_dir.iterdir() if p.suffix == ".sst" or p.name.startswith("MANIFEST")
        ]
        assert files
        for path in files:
            path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])

    again = app.start("a-again", state_dir=first.state_dir)
    produce(bootstrap, app.input, _events(1500, 1800))
    _wait_counts(bootstrap, app, 1800)
    wait_until(lambda: _restored(again) >= len(read_all(bootstrap, app.changelog())) - 300, 30)
    expected_warning = {
        "delete-task-dir": None,
        "delete-store": "store counts is missing; restoring it in full",
        "truncate-files": "store counts is corrupt",
    }[damage]
    if expected_warning:
        assert expected_warning in again.log()
    sums = read_topic(
        bootstrap, app.sums, lambda r: _latest_json(r) == _expected_sums(1800), timeout=30
    )
    assert _latest_json(sums) == _expected_sums(1800)


def test_aggregates_stay_exact_while_instances_join_and_leave(
    bootstrap, make_topic, unique_name, instances
):
    app = _CountsApp(make_topic, unique_name, instances, partitions=4)
    first = app.start("a")
    produce(bootstrap, app.input, _events(0, 2000))
    _wait_counts(bootstrap, app, 2000)

    second = app.start("b")
    third = app.start("c")
    produce(bootstrap, app.input, _events(2000, 4000))
    everyone = (first, second, third)
    wait_until(lambda: all(len(i.partitions()) >= 1 for i in everyone), 90, what="spread")
    _wait_counts(bootstrap, app, 4000)

    _stop(second)
    produce(bootstrap, app.input, _events(4000, 5000))
    _wait_counts(bootstrap, app, 5000)
    _stop(first)
    fourth = app.start("d")
    produce(bootstrap, app.input, _events(5000, 6000))
    _wait_counts(bootstrap, app, 6000)
    wait_until(lambda: len(third.partitions() | fourth.partitions()) == 4, 90, what="all owned")
    sums = read_topic(
        bootstrap, app.sums, lambda r: _latest_json(r) == _expected_sums(6000), timeout=30
    )
    assert _latest_json(sums) == _expected_sums(6000)


def test_an_internal_topic_with_the_wrong_partition_count_is_a_clear_error(
    bootstrap, make_topic, unique_name, instances
):
    from kstreamy.testing.topics import create_topics

    app = _CountsApp(make_topic, unique_name, instances, partitions=2)
    create_topics(bootstrap, {app.changelog(): 1}, {"cleanup.policy": "compact"})
    instance = app.start("a")
    assert instance.wait_exit(60) == 1
    assert f"internal topic {app.changelog()} has 1 partitions but the topology needs 2" in (
        instance.log()
    )
