"""Damaged local state: every kind of damage either heals (wipe the task, restore from the
changelog, a warning naming the path) or stops the instance with one clear error naming the
path and the fix. Real broker, real instance processes.

Each test runs the count app, stops it, damages its state directory and starts it again. The
first runs of all tests happen together in one module fixture, so the file's runtime is one
first run plus one restart per test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstreamy.testing.topics import create_topics, produce, read_topic
from tests_support.instances import InstanceFactory, InstanceProcess
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

KEYS = [f"key-{i:02d}" for i in range(20)]
FIRST = 400
"""Events counted before the damage; the restarted instance counts MORE on top."""
MORE = 100

RECOVERING = [
    "corrupt-manifest",
    "corrupt-sst-block",
    "missing-checkpoint",
    "corrupt-checkpoint",
    "dead-lock",
    "other-topology",
]
"""Cases whose restart processes records; each needs an application of its own."""
REFUSED = "refused"
"""One application whose state the tests of refused starts copy (they never process)."""


def _events(start: int, stop: int) -> Iterator[tuple[bytes, bytes]]:
    for i in range(start, stop):
        yield KEYS[i % len(KEYS)].encode(), json.dumps({"n": i}).encode()


def _counts(records) -> dict[str, int]:
    return {r.key().decode(): int.from_bytes(r.value(), "big", signed=True) for r in records}


class _App:
    def __init__(self, bootstrap: str, case: str) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.app_id = f"damaged-{case}-{suffix}"
        self.input = f"damaged-in-{case}-{suffix}"
        self.output = f"damaged-counts-{case}-{suffix}"
        self.sums = f"damaged-sums-{case}-{suffix}"
        create_topics(bootstrap, {self.input: 1, self.output: 1, self.sums: 1})
        self.state_dir: Path | None = None

    def start(self, instances: InstanceFactory, name: str, state_dir: Path) -> InstanceProcess:
        return instances.start(
            "counts_app",
            self.app_id,
            name=name,
            state_dir=state_dir,
            input=self.input,
            output=self.output,
            sums_output=self.sums,
        )

    def wait_counts(self, stop: int, timeout: float = 40) -> None:
        expected = dict(Counter(KEYS[i % len(KEYS)] for i in range(stop)))
        records = read_topic(
            self.bootstrap, self.output, lambda r: _counts(r) == expected, timeout=timeout
        )
        assert _counts(records) == expected

    @property
    def app_dir(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / self.app_id

    @property
    def store_dir(self) -> Path:
        return self.app_dir / "0_0" / "counts"


@pytest.fixture(scope="module")
def counted(broker, tmp_path_factory) -> Iterator[dict[str, _App]]:
    """Per case, an application that counted FIRST events and was stopped cleanly."""
    bootstrap = broker.bootstrap_servers
    tmp = tmp_path_factory.mktemp("damaged-first-runs")
    factory = InstanceFactory(bootstrap, tmp)
    apps = {case: _App(bootstrap, case) for case in [*RECOVERING, REFUSED]}
    try:
        running = {}
        for case, app in apps.items():
            produce(bootstrap, app.input, _events(0, FIRST))
            app.state_dir = tmp / f"state-{case}"
            running[case] = app.start(factory, case, app.state_dir)
        for app in apps.values():
            app.wait_counts(FIRST, timeout=60)
        for instance in running.values():
            instance.terminate()
        for instance in running.values():
            assert instance.wait_exit(60) == 0, instance.log()[-3000:]
        yield apps
    finally:
        factory.kill_all()


def _restart_and_count(app: _App, instances: InstanceFactory) -> InstanceProcess:
    """Start on the damaged directory, count MORE events, check the exact totals, stop."""
    again = app.start(instances, "again", app.state_dir)
    produce(app.bootstrap, app.input, _events(FIRST, FIRST + MORE))
    app.wait_counts(FIRST + MORE)
    again.terminate()
    assert again.wait_exit(60) == 0, again.log()[-3000:]
    return again


def _refused(app: _App, instances: InstanceFactory, state_dir: Path) -> tuple[str, int]:
    """Start on ``state_dir``; the instance must stop by itself. Its output and exit code."""
    instance = app.start(instances, "refused", state_dir)
    code = instance.wait_exit(60)
    return instance.log(), code


def _copy_state(app: _App, to: Path) -> Path:
    """A copy of the refused-case application's state, for tests that only try to start."""
    shutil.copytree(app.state_dir, to, dirs_exist_ok=True)
    return to


# -- damage that heals ---------------------------------------------------------------------


def test_a_manifest_overwritten_with_garbage_is_wiped_and_restored(counted, instances):
    app = counted["corrupt-manifest"]
    manifests = list(app.store_dir.glob("MANIFEST-*"))
    assert manifests
    for path in manifests:
        path.write_bytes(os.urandom(path.stat().st_size))

    again = _restart_and_count(app, instances)
    assert "store counts is corrupt" in again.log()
    assert f"wiping {app.store_dir} and restoring" in again.log()


def test_a_corrupt_sst_block_found_while_reading_is_wiped_and_restored(counted, instances):
    """RocksDB opens the store (file sizes and footers are intact) and only the first read
    of a data block fails its checksum: the task goes back to its last commit and is
    rebuilt, with no record skipped and none counted twice."""
    app = counted["corrupt-sst-block"]
    tables = list(app.store_dir.glob("*.sst"))
    assert tables
    for path in tables:
        data = bytearray(path.read_bytes())
        data[10:60] = b"\xff" * 50  # inside the first data block
        path.write_bytes(bytes(data))

    again = _restart_and_count(app, instances)
    log = again.log()
    assert f"state store at {app.store_dir} is corrupted" in log
    assert "wiping the task's local state and restoring it from the changelogs" in log
    assert "task 0_0: a store is corrupt; rebuilding it" in log


def test_a_missing_checkpoint_wipes_the_store_and_restores_it(counted, instances):
    app = counted["missing-checkpoint"]
    (app.app_dir / "0_0" / ".checkpoint").unlink()

    again = _restart_and_count(app, instances)
    assert f"store counts has no checkpoint; wiping it ({app.store_dir})" in again.log()


def test_a_corrupt_checkpoint_wipes_the_task_and_restores_it(counted, instances):
    app = counted["corrupt-checkpoint"]
    checkpoint = app.app_dir / "0_0" / ".checkpoint"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-7])  # truncated JSON

    again = _restart_and_count(app, instances)
    assert f"checkpoint file {checkpoint} is unusable: not valid JSON" in again.log()
    assert "rebuilding its stores from the changelogs" in again.log()


def test_a_lock_left_by_a_dead_process_is_taken_over(counted, instances):
    app = counted["dead-lock"]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (app.app_dir / ".lock").write_text(str(dead.pid))  # what a killed instance leaves

    again = _restart_and_count(app, instances)
    assert f"state directory {app.app_dir}: lock left by pid {dead.pid}" in again.log()
    assert "taken over" in again.log()


def test_state_of_another_topology_version_is_deleted(counted, instances):
    """Task 7_0 (a sub-topology this version does not have) and store 0_0/retired (a store
    it does not have) are left from an older version: deleted with a warning each."""
    app = counted["other-topology"]
    shutil.copytree(app.store_dir, app.app_dir / "7_0" / "counts")
    shutil.copytree(app.store_dir, app.app_dir / "0_0" / "retired")

    again = _restart_and_count(app, instances)
    log = again.log()
    assert "task 7_0 is not part of this topology" in log
    assert "task 0_0 has no store 'retired' in this topology" in log
    assert not (app.app_dir / "7_0").exists()
    assert not (app.app_dir / "0_0" / "retired").exists()


# -- damage that stops the instance with the fix ---------------------------------------------


def test_a_lock_held_by_a_live_instance_is_refused(counted, instances, tmp_path):
    app = counted[REFUSED]
    state_dir = _copy_state(app, tmp_path / "shared")
    holder = app.start(instances, "holder", state_dir)
    lock = state_dir / app.app_id / ".lock"
    wait_until(
        lambda: lock.exists() and lock.read_text().strip() == str(holder.pid),
        30,
        what="the first instance to hold the lock",
    )

    log, code = _refused(app, instances, state_dir)
    assert code == 1
    assert (
        f"state directory {state_dir / app.app_id} is in use by a running instance "
        f"(pid {holder.pid})" in log
    )
    assert "--state-dir DIR" in log
    assert "Traceback" not in log
    holder.terminate()
    holder.wait_exit(60)


def test_state_of_another_application_is_refused(counted, instances, tmp_path):
    app = counted[REFUSED]
    state_dir = _copy_state(app, tmp_path / "copied")
    (state_dir / app.app_id / "application.id").write_text("payments\n")

    log, code = _refused(app, instances, state_dir)
    assert code == 1
    assert "holds the state of application 'payments'" in log
    assert f"`rm -rf {state_dir / app.app_id}`" in log
    assert "Traceback" not in log


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 4 MB file system of its own (tmpfs), unmounted after the test."""
    path = tmp_path / "disk"
    _mount_tmpfs(path, "4m")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> None:
    """Write zeros to a file on ``disk`` until no space is left."""
    filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(filler, b"\0" * 65536)
    except OSError:
        pass  # full
    finally:
        os.close(filler)


def test_a_read_only_state_directory_stops_the_instance(counted, instances, small_disk):
    app = counted[REFUSED]
    _copy_state(app, small_disk)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    log, code = _refused(app, instances, small_disk)
    assert code == 1
    assert f"state directory {small_disk / app.app_id} is read-only" in log
    assert "--state-dir DIR" in log
    assert "Traceback" not in log


def test_a_full_disk_stops_the_instance(counted, instances, small_disk):
    app = counted[REFUSED]
    _copy_state(app, small_disk)
    _fill(small_disk)

    log, code = _refused(app, instances, small_disk)
    assert code == 1
    assert f"state directory {small_disk / app.app_id} is full" in log
    assert "free space" in log
    assert "Traceback" not in log


def test_a_disk_that_fills_up_while_running_stops_the_instance(broker, instances, small_disk):
    app = _App(broker.bootstrap_servers, "fills-up")
    app.state_dir = small_disk
    produce(app.bootstrap, app.input, _events(0, FIRST))
    instance = app.start(instances, "running", small_disk)
    app.wait_counts(FIRST)
    _fill(small_disk)

    produce(app.bootstrap, app.input, _events(FIRST, FIRST + MORE))
    assert instance.wait_exit(60) == 1
    log = instance.log()
    # Whichever write meets the full disk first names its directory: a store's (RocksDB
    # flushing) or the application's (a checkpoint or the status file).
    error = log.strip().splitlines()[-1]
    assert error.startswith(f"error: state directory {small_disk / app.app_id}"), log[-3000:]
    assert " is full (" in error, error
    assert "free space" in log
    assert "Traceback" not in log
