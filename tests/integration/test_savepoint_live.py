"""Savepoints of running instances: taken mid-stream, restarted on more instances, stop-with-
savepoint and an upgrade, reprocessing after a bug fix. Real broker, real instance processes.

The first test runs on every pipeline of tests_support.savepoint_pipeline.PIPELINES; the others
use the aggregate pipeline's stores and code versions.
"""

from __future__ import annotations

import pytest

from kstreamy.savepoint import Savepoint
from kstreamy.serde import IntSerde, StrSerde
from kstreamy.testing.topics import produce, read_all
from tests_support.app_cli import ok
from tests_support.savepoint_pipeline import (
    PIPELINES,
    PacedFeeder,
    events,
    stop_instance,
    wait_settled,
)

pytestmark = [pytest.mark.integration]
every_pipeline = pytest.mark.parametrize("kind", sorted(PIPELINES))
# These read the aggregate pipeline's stores and run its other code versions.
aggregate_only = pytest.mark.parametrize("kind", ["aggregate"])


def _input_offsets(savepoint: str, topic: str) -> int:
    manifest = Savepoint.open(savepoint).manifest
    return sum(t.input_offsets.get(topic) or 0 for t in manifest.tasks.values())


@every_pipeline
@pytest.mark.parametrize("joining", [False, True], ids=["steady", "instance-joins"])
def test_live_savepoint_then_restart_on_more_instances_equals_an_uninterrupted_run(
    pipeline, joining
):
    app = pipeline()
    expect = app.kind.expectation
    produce(app.bootstrap, app.input, events(0, 1500))
    first, second = app.start("a"), app.start("b")
    wait_settled(first, second)
    app.wait_results(expect(range(1500)))

    feeder = PacedFeeder(app.bootstrap, app.input, 1500)
    # With a third instance joining, tasks move while the savepoint is taken: a task already
    # snapshotted stays held by its new owner, one not yet snapshotted is snapshotted there.
    joiner = app.start("joiner") if joining else None
    savepoint = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"))).strip()
    total = feeder.stop()
    app.wait_results(expect(range(total)))
    cut = _input_offsets(savepoint, app.input)
    assert 1500 < cut < total, "the savepoint should land mid-stream"
    manifest = Savepoint.open(savepoint).manifest
    assert manifest.mode == "live"
    assert manifest.in_flight == {}
    for instance in (first, second, joiner):
        if instance is not None:
            stop_instance(instance)

    ok(app.cli("reset", "--to-savepoint", savepoint))
    mark = app.mark()
    restarted = [app.start(name) for name in ("c", "d", "e")]
    wait_settled(*restarted)
    app.wait_results(expect(range(total)), since=mark)
    if app.kind.emits_once:
        # Results out before the reset need not be written again, so the check above may pass
        # on them alone: more input closes the windows open at the cut, whose state is partly
        # from the savepoint and partly from input read again after the reset.
        produce(app.bootstrap, app.input, events(total, total + 600))
        app.wait_results(expect(range(total + 600)), since=mark)
    for instance in restarted:
        stop_instance(instance)


@aggregate_only
def test_stop_with_savepoint_then_changed_code_continues_exactly(pipeline):
    app = pipeline()
    expect = app.kind.expectation
    produce(app.bootstrap, app.input, events(0, 1000))
    first, second = app.start("a"), app.start("b")
    wait_settled(first, second)
    feeder = PacedFeeder(app.bootstrap, app.input, 1000)
    savepoint = ok(
        app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"), "--stop")
    ).strip()
    assert first.wait_exit(60) == 0 and second.wait_exit(60) == 0
    total = feeder.stop()

    # Nothing was processed after the snapshots: committed offsets are the savepoint's, and
    # the last count written per key is the count in the savepoint.
    manifest = Savepoint.open(savepoint).manifest
    assert manifest.mode == "live-stop"
    saved = {
        (app.input, t.partition): t.input_offsets[app.input]
        for t in manifest.tasks.values()
        if app.input in t.input_offsets
    }
    offsets = app.group_offsets()
    assert {tp: offsets[tp] for tp in saved} == saved
    state = {}
    savepoint_obj = Savepoint.open(savepoint)
    for tid in savepoint_obj.tasks_with_store("counts"):
        for key, value in savepoint_obj.store_entries(tid, "counts"):
            state[StrSerde().deserialize(key)] = IntSerde().deserialize(value)
    assert app.results()["counts"] == state

    # Versions the savepoint does not fit are refused, naming the store; nothing changes.
    before = app.group_offsets()
    refused = app.cli("reset", "--to-savepoint", savepoint, version="v2-json-counts")
    assert refused.returncode == 1
    assert "incompatible store format: store 'counts'" in " ".join(refused.stderr.split())
    refused = app.cli("reset", "--to-savepoint", savepoint, version="v2-no-buckets")
    assert refused.returncode == 1
    assert "bucket-counts" in refused.stderr and "--allow-non-restored-state" in refused.stderr
    dry = app.cli(
        "reset", "--to-savepoint", savepoint, "--allow-non-restored-state", "--dry-run",
        version="v2-no-buckets",
    )  # fmt: skip
    assert "store bucket-counts is not in the application" in ok(dry) + dry.stderr
    assert app.group_offsets() == before

    # The new version has new stateless steps and keeps the store names.
    ok(app.cli("reset", "--to-savepoint", savepoint, version="v1-extra-step"))
    mark = app.mark()
    upgraded = [app.start(n, version="v1-extra-step") for n in ("c", "d")]
    app.wait_results(expect(range(total)), since=mark)
    produce(app.bootstrap, app.input, events(total, total + 300))
    app.wait_results(expect(range(total + 300)))
    for instance in upgraded:
        stop_instance(instance)


@aggregate_only
def test_reprocessing_from_an_older_savepoint_after_a_bug_fix(pipeline):
    app = pipeline()
    expect = app.kind.expectation
    produce(app.bootstrap, app.input, events(0, 1000))
    first = app.start("a")
    app.wait_results(expect(range(1000)))
    good = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"))).strip()
    stop_instance(first)

    # A buggy version runs for a while: its sums are wrong from event 1000 on.
    buggy = app.start("buggy", version="v2-buggy")
    produce(app.bootstrap, app.input, events(1000, 2000))
    wrong = {
        key: expect(range(1000))["sums"][key] + expect(range(1000, 2000), factor=10)["sums"][key]
        for key in expect(range(2000))["sums"]
    }
    app.wait_results({"sums": wrong})
    stop_instance(buggy)

    # The fix: back to the savepoint taken before the buggy version, with fixed code.
    ok(app.cli("reset", "--to-savepoint", good, version="v1"))
    mark = app.mark()
    fixed = app.start("fixed", version="v1")
    app.wait_results(expect(range(2000)), since=mark)
    # From that point on the output shows only fixed results: every sum written after the
    # reset is a correct running sum of its key.
    correct_running = {}
    for n in range(2000):
        key = f"key-{n % 30:03d}"
        correct_running.setdefault(key, {0}).add(max(correct_running[key]) + n)
    for record in read_all(app.bootstrap, app.topics["sums"]):
        if record.offset() >= mark.get((record.topic(), record.partition()), 0):
            key = record.key().decode()
            assert int(record.value()) in correct_running[key], (key, record.value())
    stop_instance(fixed)

    # The state equals that of the fixed code run from the start.
    final = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"))).strip()
    savepoint = Savepoint.open(final)
    sums = {}
    for tid in savepoint.tasks_with_store("sums"):
        for key, value in savepoint.store_entries(tid, "sums"):
            sums[key.decode()] = int(value)
    assert sums == expect(range(2000))["sums"]
