"""Event time on the broker: timers survive a task move, and under exactly-once a batch that
only advances a window (emits nothing) still commits its offsets."""

from __future__ import annotations

import json

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 2


def encode(items):
    return [(k.encode(), json.dumps(v).encode()) for k, v in items]


def test_timers_fire_after_their_task_moved(bootstrap, make_topic, unique_name, instances):
    source = make_topic("sessions", PARTITIONS)
    output = make_topic("alerts", PARTITIONS)
    app_id = unique_name("timers")
    first = instances.start("timer_app", app_id, input=source, output=output)
    first.wait_running()
    wait_until(lambda: len(first.partitions()) == PARTITIONS, 60, what="first owns all")
    starts = [(f"user{i}", {"kind": "start", "ts": 100.0 + i}) for i in range(6)]
    ends = [("user0", {"kind": "end", "ts": 104.0}), ("user3", {"kind": "end", "ts": 105.0})]
    produce(bootstrap, source, encode(starts + ends))
    wait_until(
        lambda: (
            first.status().get("metrics", {}).get("records_processed", 0) >= 8
            and first.status().get("metrics", {}).get("commits", 0) >= 1
        ),
        60,
        what="the timers to be registered and committed",
    )
    first.terminate()
    assert first.wait_exit(60) == 0, first.log()[-3000:]
    second = instances.start("timer_app", app_id, input=source, output=output)
    second.wait_running()
    # Far-future records on every partition move each task's watermark past every timer.
    for partition in range(PARTITIONS):
        produce(
            bootstrap,
            source,
            encode([(f"tick{partition}", {"kind": "tick", "ts": 500.0})]),
            partition=partition,
        )
    records = read_topic(bootstrap, output, lambda r: len(r) >= 4, timeout=90)
    alerts = sorted((r.key().decode(), json.loads(r.value())) for r in records)
    assert alerts == [
        ("user1", {"missing_end": 101.0}),
        ("user2", {"missing_end": 102.0}),
        ("user4", {"missing_end": 104.0}),
        ("user5", {"missing_end": 105.0}),
    ]
    assert second.status()["records_restored"] > 0  # the timers came from the changelog


def test_exactly_once_commits_a_batch_that_only_fills_an_open_window(
    bootstrap, make_topic, unique_name, instances
):
    source = make_topic("readings", PARTITIONS)
    output = make_topic("windows", PARTITIONS)
    app_id = unique_name("eos-win")
    instance = instances.start(
        "windowed_app",
        app_id,
        input=source,
        output=output,
        by="sensor",
        guarantee={"processing_guarantee": "exactly_once", "commit_interval_ms": 100},
    )
    instance.wait_running()
    items = [(f"s{i % 4}", {"ts": 1000.0 + i * 0.01, "v": 1, "region": "x"}) for i in range(40)]
    for partition in range(PARTITIONS):
        produce(bootstrap, source, encode(items), partition=partition)

    def committed() -> dict[str, int]:
        return {
            p: o for p, o in instance.status().get("committed", {}).items() if p.startswith(source)
        }

    wait_until(
        lambda: committed() == {f"{source}[{p}]": len(items) for p in range(PARTITIONS)},
        60,
        what="every input offset to be committed",
    )
    assert read_topic(bootstrap, output, lambda r: False, timeout=1) == []  # window still open
