"""Exactly-once: outputs read with read_committed equal the offline expectation exactly.

The fault tests (SIGKILL, SIGSTOP) depend on the broker hiding records of aborted transactions
from read_committed consumers; Tansu does not, so they run on Apache Kafka only
(KSTREAMY_BOOTSTRAP=host:port).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import defaultdict

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

KEYS = [f"k{i:02d}" for i in range(30)]
ABORTED_VISIBLE = "returns records of aborted transactions to read_committed consumers"


def _events(start: int, stop: int):
    for n in range(start, stop):
        yield KEYS[n % len(KEYS)].encode(), json.dumps({"n": n}).encode()


class _EosApp:
    def __init__(self, bootstrap, make_topic, unique_name, instances, partitions=4):
        self.bootstrap = bootstrap
        self.input = make_topic("in", partitions)
        self.counts = make_topic("counts", partitions)
        self.evens = make_topic("evens", partitions)
        self.app_id = unique_name("eos")
        self.instances = instances

    def start(self, name, state_dir=None):
        return self.instances.start(
            "eos_app",
            self.app_id,
            name=name,
            state_dir=state_dir,
            input=self.input,
            counts=self.counts,
            evens=self.evens,
        )

    def assert_exact(self, total: int, timeout: float = 120) -> None:
        """Every count update exactly once and in order; every even number exactly once."""
        expected_updates = total
        counts = read_topic(
            self.bootstrap,
            self.counts,
            lambda r: len(r) >= expected_updates,
            timeout=timeout,
            isolation_level="read_committed",
        )
        per_key = defaultdict(list)
        for record in counts:
            per_key[record.key().decode()].append(int.from_bytes(record.value(), "big"))
        expected_per_key = defaultdict(int)
        for n in range(total):
            expected_per_key[KEYS[n % len(KEYS)]] += 1
        for key, n in expected_per_key.items():
            assert per_key[key] == list(range(1, n + 1)), f"count updates of {key}"
        assert len(counts) == total
        evens = read_topic(
            self.bootstrap,
            self.evens,
            lambda r: len(r) >= total // 2 + total % 2,
            timeout=30,
            isolation_level="read_committed",
        )
        numbers = sorted(json.loads(r.value())["n"] for r in evens)
        assert numbers == list(range(0, total, 2))


def _feeder(bootstrap: str, topic: str, total: int) -> threading.Thread:
    """Produce ``total`` events in small paced chunks from a thread, so faults hit mid-stream."""

    def feed() -> None:
        for n in range(0, total, 200):
            produce(bootstrap, topic, _events(n, min(n + 200, total)))
            time.sleep(0.05)  # pacing the input, not waiting for a condition

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def _committed_since_start(instance) -> bool:
    status = instance.status()
    return status.get("pid") == instance.pid and status.get("metrics", {}).get("commits", 0) > 0


def _stop(instance):
    instance.terminate()
    assert instance.wait_exit(60) == 0, instance.log()[-3000:]


def test_exactly_once_without_faults_gives_exact_output(
    bootstrap, make_topic, unique_name, instances
):
    app = _EosApp(bootstrap, make_topic, unique_name, instances)
    first = app.start("a")
    produce(bootstrap, app.input, _events(0, 1500))
    second = app.start("b")
    wait_until(lambda: first.partitions() and second.partitions(), 90, what="both own tasks")
    produce(bootstrap, app.input, _events(1500, 3000))
    _stop(second)
    produce(bootstrap, app.input, _events(3000, 4000))
    app.assert_exact(4000)
    assert first.status()["processing_guarantee"] == "exactly_once"
    assert "transaction aborted" not in first.log() + second.log()


@pytest.mark.tansu_deviation(ABORTED_VISIBLE)
def test_kill_9_repeatedly_mid_stream_keeps_output_exact(
    bootstrap, make_topic, unique_name, instances
):
    app = _EosApp(bootstrap, make_topic, unique_name, instances)
    group = [app.start(name) for name in ("a", "b", "c")]
    wait_until(lambda: all(i.partitions() for i in group), 120, what="three instances own tasks")
    total = 6000
    feeder = _feeder(bootstrap, app.input, total)
    kills = 0
    while feeder.is_alive() or kills < 3:
        victim = group[kills % len(group)]
        # Kill it while it is busy: once it has committed since it (re)started.
        wait_until(lambda v=victim: _committed_since_start(v), 90, what=f"{victim.name} commits")
        victim.kill()
        victim.wait_exit(10)
        group[kills % len(group)] = app.start(f"{victim.name}-r{kills}", victim.state_dir)
        kills += 1
    feeder.join()
    app.assert_exact(total, timeout=240)


@pytest.mark.tansu_deviation(ABORTED_VISIBLE)
def test_a_frozen_instance_writes_nothing_after_waking(
    bootstrap, make_topic, unique_name, instances
):
    app = _EosApp(bootstrap, make_topic, unique_name, instances)
    group = [app.start(name) for name in ("a", "b", "c")]
    wait_until(lambda: all(i.partitions() for i in group), 120, what="three instances own tasks")
    produce(bootstrap, app.input, _events(0, 1000))
    frozen = group[0]
    frozen.signal(signal.SIGSTOP)
    produce(bootstrap, app.input, _events(1000, 2000))
    # Its session times out (6 s in the test apps) and the others take its partitions over.
    wait_until(lambda: len(group[1].partitions() | group[2].partitions()) == 4, 120)
    frozen.signal(signal.SIGCONT)
    produce(bootstrap, app.input, _events(2000, 3000))
    app.assert_exact(3000, timeout=240)


def test_broker_unavailable_for_a_while_loses_and_duplicates_nothing(
    broker, bootstrap, make_topic, unique_name, instances
):
    if broker.pid is None:
        pytest.skip(
            "needs the broker's process to freeze it: the embedded one, or an external broker "
            "on this machine whose pid is in KSTREAMY_BROKER_PID"
        )
    app = _EosApp(bootstrap, make_topic, unique_name, instances)
    instance = app.start("a")
    wait_until(lambda: len(instance.partitions()) == 4, 90, what="instance owns all tasks")
    feeder = _feeder(bootstrap, app.input, 3000)
    wait_until(lambda: _committed_since_start(instance), 60, what="a first commit")
    os.kill(broker.pid, signal.SIGSTOP)  # the broker stops answering mid-stream
    try:
        time.sleep(4)  # the length of the outage being simulated, not a wait for a condition
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    feeder.join(120)
    app.assert_exact(3000)
    assert instance.alive(), instance.log()[-3000:]


def test_broker_gone_for_minutes_then_back_loses_and_duplicates_nothing(
    broker, bootstrap, make_topic, unique_name, instances
):
    """The broker stopped (not frozen) for ``KSTREAMY_BROKER_OUTAGE_S`` (120 s by default) and
    started again with its data: the instance waits, keeps its state and goes on exactly."""
    if not broker.can_restart:
        pytest.skip(
            "needs commands that stop and start the broker with its data: "
            "KSTREAMY_BROKER_STOP_CMD and KSTREAMY_BROKER_START_CMD (an external broker)"
        )
    outage_s = float(os.environ.get("KSTREAMY_BROKER_OUTAGE_S", "120"))
    app = _EosApp(bootstrap, make_topic, unique_name, instances)
    instance = app.start("a")
    wait_until(lambda: len(instance.partitions()) == 4, 90, what="instance owns all tasks")
    produce(bootstrap, app.input, _events(0, 1500))
    app.assert_exact(1500)
    log_before = len(instance.log())
    broker.stop_broker()
    try:
        time.sleep(outage_s)  # the length of the outage being simulated, not a wait
        assert instance.alive(), instance.log()[-3000:]
    finally:
        broker.start_broker()
    produce(bootstrap, app.input, _events(1500, 3000))
    app.assert_exact(3000, timeout=240)
    assert instance.alive(), instance.log()[-3000:]
    # The local state was kept: nothing was wiped (a restore replays at most the changelog
    # records written since the stores were last flushed).
    after = instance.log()[log_before:]
    assert "wiping" not in after and "rebuilding" not in after, after[-3000:]
