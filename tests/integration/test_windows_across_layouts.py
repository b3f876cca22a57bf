"""Event-time windows give the same final results whatever the arrival order, the number of
instances, a crash in the middle, or a repartition topic between the input and the windows."""

from __future__ import annotations

import json
import random
import signal
from collections import defaultdict

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

SENSORS = [f"s{i:02d}" for i in range(12)]
REGIONS = ["north", "south", "west"]
START = 1_700_000_000.0
EVENTS = 1200
PARTITIONS = 4


def events(seed: int) -> list[tuple[str, dict]]:
    """Readings every 0.5 s, up to 3 s out of order (within the 4 s bound), then shuffled in
    small chunks by ``seed`` so each run sees another arrival order that stays in bound."""
    rng = random.Random(seed)
    out = []
    for i in range(EVENTS):
        sensor = SENSORS[i % len(SENSORS)]
        ts = START + i * 0.5 - rng.choice([0.0, 0.5, 1.0, 2.0, 3.0])
        region = REGIONS[int(sensor[1:]) % len(REGIONS)]
        out.append((sensor, {"ts": ts, "v": i % 7, "region": region}))
    chunks = [out[i : i + 3] for i in range(0, len(out), 3)]
    for chunk in chunks:
        rng.shuffle(chunk)
    return [e for chunk in chunks for e in chunk]


def expected(items: list[tuple[str, dict]], by: str) -> dict[tuple[str, float], dict]:
    windows: dict[tuple[str, float], dict] = defaultdict(lambda: {"n": 0, "sum": 0})
    for sensor, value in items:
        key = sensor if by == "sensor" else value["region"]
        start = (value["ts"] * 1000 // 10_000) * 10.0
        windows[(key, start)]["n"] += 1
        windows[(key, start)]["sum"] += value["v"]
    return dict(windows)


def encode(items):
    return [(k.encode(), json.dumps(v).encode()) for k, v in items]


def flush_every_partition(bootstrap: str, topic: str) -> None:
    """One far-future record per partition moves every watermark past the last window."""
    for partition in range(PARTITIONS):
        value = {"ts": START + EVENTS + 100.0, "v": 0, "region": "flush"}
        produce(bootstrap, topic, encode([(f"flush{partition}", value)]), partition=partition)


def parse(records) -> list[tuple[tuple[str, float], dict]]:
    results = []
    for record in records:
        key = json.loads(record.key())
        if key["key"].startswith("flush"):
            continue
        results.append(((key["key"], key["start_ms"] / 1000), json.loads(record.value())))
    return results


def read_results(bootstrap: str, topic: str, want: int) -> list[tuple[tuple[str, float], dict]]:
    """Read until every expected window has a result (or the time is up)."""
    records = read_topic(
        bootstrap,
        topic,
        lambda r: len({window for window, _ in parse(r)}) >= want,
        timeout=120,
        isolation_level="read_committed",
    )
    return parse(records)


@pytest.mark.parametrize(
    ("layout", "by", "seed"),
    [("one", "sensor", 1), ("three", "sensor", 2), ("three", "region", 3)],
)
def test_final_windows_are_exact_across_layouts(
    layout, by, seed, bootstrap, make_topic, unique_name, instances
):
    source = make_topic("readings", PARTITIONS)
    output = make_topic("windows", PARTITIONS)
    app_id = unique_name("win")
    items = events(seed)
    want = expected(items, by)
    count = 1 if layout == "one" else 3
    guarantee = {"processing_guarantee": "exactly_once", "commit_interval_ms": 100}
    started = [
        instances.start(
            "windowed_app", app_id, input=source, output=output, by=by, guarantee=guarantee
        )
        for _ in range(count)
    ]
    for instance in started:
        instance.wait_running()
    produce(bootstrap, source, encode(items))
    flush_every_partition(bootstrap, source)
    results = read_results(bootstrap, output, len(want))
    assert sorted(results) == sorted(want.items())  # each window exactly once, exact values


def test_a_killed_instance_changes_no_window(bootstrap, make_topic, unique_name, instances):
    """At least once, a crash may repeat a final result, never change one or lose one."""
    source = make_topic("readings", PARTITIONS)
    output = make_topic("windows", PARTITIONS)
    app_id = unique_name("win-kill")
    items = events(4)
    want = expected(items, "sensor")
    first = instances.start("windowed_app", app_id, input=source, output=output, by="sensor")
    second = instances.start("windowed_app", app_id, input=source, output=output, by="sensor")
    first.wait_running()
    second.wait_running()
    half = len(items) // 2
    produce(bootstrap, source, encode(items[:half]))
    wait_until(
        lambda: first.status().get("metrics", {}).get("commits", 0) >= 1,
        60,
        what="the first instance to commit",
    )
    first.signal(signal.SIGKILL)
    first.wait_exit(10)
    produce(bootstrap, source, encode(items[half:]))
    restarted = instances.start(
        "windowed_app",
        app_id,
        input=source,
        output=output,
        by="sensor",
        state_dir=first.state_dir,
        name="restarted",
    )
    restarted.wait_running()
    flush_every_partition(bootstrap, source)
    results = read_results(bootstrap, output, len(want))
    last: dict = {}
    for window, value in results:
        assert last.get(window, value) == value, f"window {window} changed its final result"
        last[window] = value
    assert last == want
