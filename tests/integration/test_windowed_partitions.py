"""Windowed results land on the partition Kafka Streams would choose: that of their base key.

A real instance on 3 partitions writes 10 s windows (as JSON and in Kafka Streams' layout) and
session counts; every result record, tombstones of merged sessions included, must sit on
``toPositive(murmur2(base key bytes)) % 3``, computed here independently of kstreamy.
"""

from __future__ import annotations

import json
import random

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.murmur2_reference import reference_partition

pytestmark = pytest.mark.integration

PARTITIONS = 3
SENSORS = [f"sensor-{i:02d}" for i in range(15)]
START = 1_700_000_000.0
EVENTS = 600


def events() -> list[tuple[bytes, bytes]]:
    """A reading every 0.4 s, round robin over the sensors (so a sensor's readings are 6 s
    apart: its 7 s sessions keep merging), up to 2 s out of order."""
    rng = random.Random(5)
    out = []
    for i in range(EVENTS):
        ts = START + i * 0.4 - rng.choice([0.0, 0.4, 1.2, 2.0])
        value = {"ts": ts, "v": i % 5, "region": "r"}
        out.append((SENSORS[i % len(SENSORS)].encode(), json.dumps(value).encode()))
    return out


def flush(bootstrap: str, topic: str) -> None:
    """One far-future record per partition moves every watermark past the last window."""
    for partition in range(PARTITIONS):
        value = {"ts": START + EVENTS + 100.0, "v": 0, "region": "r"}
        key = f"flush{partition}".encode()
        produce(bootstrap, topic, [(key, json.dumps(value).encode())], partition=partition)


def windows_of(items: list[tuple[bytes, bytes]]) -> set[tuple[bytes, int]]:
    return {(k, round(json.loads(v)["ts"] * 1000) // 10_000) for k, v in items}


def check_partitions(records, base_of) -> dict[bytes, set[int]]:
    """Every record on its base key's partition; returns base key -> partitions used."""
    used: dict[bytes, set[int]] = {}
    for record in records:
        base = base_of(record.key())
        assert record.partition() == reference_partition(base, PARTITIONS), (
            record.key(),
            record.partition(),
        )
        used.setdefault(base, set()).add(record.partition())
    return used


def test_every_windowed_result_is_on_its_base_keys_partition(
    bootstrap, make_topic, unique_name, instances
):
    source = make_topic("readings", PARTITIONS)
    json_out = make_topic("windows-json", PARTITIONS)
    ks_out = make_topic("windows-ks", PARTITIONS)
    session_out = make_topic("sessions", PARTITIONS)
    instance = instances.start(
        "windowed_app",
        unique_name("win-part"),
        input=source,
        output=json_out,
        ks_output=ks_out,
        session_output=session_out,
        by="sensor",
    )
    instance.wait_running()
    items = events()
    produce(bootstrap, source, items)
    flush(bootstrap, source)
    want = len(windows_of(items))

    def real(records):
        return [r for r in records if not r.key().startswith(b"flush")]

    json_results = read_topic(bootstrap, json_out, lambda r: len(real(r)) >= want, timeout=120)
    ks_results = read_topic(bootstrap, ks_out, lambda r: len(real(r)) >= want, timeout=120)
    # Every reading updates one session; merges also write tombstones.
    updates = EVENTS + PARTITIONS
    sessions = read_topic(
        bootstrap,
        session_out,
        lambda r: sum(1 for m in r if m.value() is not None) >= updates,
        timeout=120,
    )
    assert len(real(json_results)) == want
    assert len(real(ks_results)) == want
    assert sum(1 for m in sessions if m.value() is not None) >= updates
    assert any(m.value() is None for m in sessions)  # merged sessions' tombstones checked too

    used = [
        check_partitions(json_results, lambda key: json.loads(key)["key"].encode()),
        check_partitions(ks_results, lambda key: key[:-8]),  # inner key + 8-byte start
        check_partitions(sessions, lambda key: key[:-16]),  # inner key + end + start
    ]
    for by_base in used:
        assert {s.encode() for s in SENSORS} <= set(by_base)
        assert all(len(p) == 1 for p in by_base.values())  # one key's windows: one partition
        assert set().union(*by_base.values()) == set(range(PARTITIONS))
    # The same partition for a sensor in every layout (the flush keys' last windows never close,
    # so only the session output has them).
    sensors = [{k: p for k, p in by_base.items() if not k.startswith(b"flush")} for by_base in used]
    assert sensors[0] == sensors[1] == sensors[2]
