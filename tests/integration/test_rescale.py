"""Rescaling by key through a savepoint: an input topic grown from 4 to 8 partitions, and a
repartition topic's ``partitions=`` changed. Real broker, real instance processes."""

from __future__ import annotations

import pytest

from kstreamy.testing.growth import grow_topic
from kstreamy.testing.topics import produce
from tests_support.app_cli import ok
from tests_support.savepoint_pipeline import (
    PIPELINES,
    events,
    owned,
    stop_instance,
    wait_settled,
)
from tests_support.waiting import wait_until

pytestmark = [pytest.mark.integration]
every_pipeline = pytest.mark.parametrize("kind", sorted(PIPELINES))
# Only the aggregate pipeline has a repartition step whose partitions can be set.
with_a_repartition = pytest.mark.parametrize("kind", ["aggregate"])


@every_pipeline
def test_rescale_a_grown_input_topic_from_4_to_8_partitions(pipeline):
    app = pipeline(partitions=4)
    expect = app.kind.expectation
    produce(app.bootstrap, app.input, events(0, 1000))
    first = app.start("a")
    app.wait_results(expect(range(1000)), timeout=240)
    stop_instance(first)
    early = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"))).strip()

    produce(app.bootstrap, app.input, events(1000, 1600))
    first, second = app.start("a2", state_dir=first.state_dir), app.start("b")
    # The stop-with-savepoint goes to both instances: only once both own tasks.
    wait_settled(first, second)
    app.wait_results(expect(range(1600)), timeout=240)
    late = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"), "--stop")).strip()
    assert first.wait_exit(120) == 0 and second.wait_exit(120) == 0

    grow_topic(app.bootstrap, app.input, 8)
    produce(app.bootstrap, app.input, events(1600, 3000))  # now spread over 8 partitions

    # The early savepoint is followed by records written under 4 partitions: refused.
    refused = app.cli("reset", "--to-savepoint", early)
    assert refused.returncode == 1
    assert "written while it had 4 partitions" in " ".join(refused.stderr.split())

    dry = ok(app.cli("reset", "--to-savepoint", late, "--dry-run"))
    assert "moved from 4 to 8 partitions by the murmur2 hash" in dry
    assert f"set the offset of {app.input}[7] to 0" in dry
    ok(app.cli("reset", "--to-savepoint", late))
    mark = app.mark()
    rescaled = [app.start(name) for name in ("c", "d", "e", "f")]
    app.wait_results(expect(range(3000)), since=mark, timeout=300)
    wait_settled(*rescaled, tasks=8 * app.kind.subtopologies)
    if app.kind.emits_once:
        # Windows closed before the savepoint are not emitted again, nor are those closed
        # after it emitted twice (by an old task and by the task the key moved to).
        app.assert_each_result_once()
    for instance in rescaled:
        stop_instance(instance)


@with_a_repartition
def test_changing_partitions_of_a_repartition_step_goes_through_a_savepoint(pipeline):
    app = pipeline(partitions=2, bucket_partitions=2)
    expect = app.kind.expectation
    produce(app.bootstrap, app.input, events(0, 800))
    first = app.start("a")
    app.wait_results(expect(range(800)))
    savepoint = ok(
        app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"), "--stop")
    ).strip()
    assert first.wait_exit(60) == 0

    # More tasks after the repartition than the input has partitions, without a reset: refused.
    wrong = app.start("wrong", bucket_partitions=6)
    assert wrong.wait_exit(60) == 1
    assert "has 2 partitions but the topology needs 6" in wrong.log()
    assert "kstreamy reset --to-savepoint" in wrong.log()

    ok(app.cli("reset", "--to-savepoint", savepoint, bucket_partitions=6))
    produce(app.bootstrap, app.input, events(800, 1500))
    mark = app.mark()
    wide = [app.start(n, bucket_partitions=6) for n in ("b", "c")]
    app.wait_results(expect(range(1500)), since=mark)
    wait_until(lambda: len(owned(*wide)) == 8, 60, what="2 + 6 tasks owned")
    for instance in wide:
        stop_instance(instance)
