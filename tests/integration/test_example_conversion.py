"""The conversion example on the broker: two instance processes over four partitions, events
produced out of order; the hourly results are checked against a computation from scratch."""

from __future__ import annotations

import json
import random
import time
import uuid
from itertools import count

import pytest

from kstreamy.partitioner import partition_for
from kstreamy.testing.topics import create_topics, produce, read_topic
from tests_support.conversion_reference import expected_hours

pytestmark = pytest.mark.integration

HOUR = 1699999200  # 2023-11-14T22:00Z
OUT_OF_ORDERNESS = 120.0  # the example's bound: events delayed this much still count


def events() -> list[tuple[str, str, int]]:
    """30 users over four hours; half the views followed by a purchase 0 to 45 minutes later."""
    rng = random.Random(17)
    out = []
    for n in range(30):
        for _ in range(rng.randint(1, 6)):
            view = HOUR + rng.randint(0, 4 * 3600)
            out.append((f"user-{n}", "view", view))
            if rng.random() < 0.5:
                out.append((f"user-{n}", "purchase", view + rng.randint(0, 45 * 60)))
    return out


def closers(partitions: int) -> list[str]:
    """One user per input partition: watermarks are per partition, and the hourly windows wait
    for the lowest, so every partition needs an event after the rest."""
    found: dict[int, str] = {}
    for n in count():
        found.setdefault(partition_for(f"closer-{n}".encode(), partitions), f"closer-{n}")
        if len(found) == partitions:
            return list(found.values())
    raise AssertionError("unreachable")


def encode(user: str, kind: str, ts: int) -> tuple[bytes, bytes]:
    return user.encode(), json.dumps({"type": kind, "ts": ts}).encode()


def test_two_instances_count_conversions_per_hour_as_from_scratch(bootstrap, instances):
    suffix = f"-{uuid.uuid4().hex[:8]}"
    create_topics(
        bootstrap,
        {
            f"{topic}{suffix}": 4
            for topic in ("shop-events", "conversions-hourly", "late-conversions")
        },
    )
    for name in ("a", "b"):
        instances.start(
            "example_app", f"conversion{suffix}", name=name, example="conversion", suffix=suffix
        ).wait_running()

    data = events()
    rng = random.Random(4)
    shuffled = sorted(data, key=lambda e: e[2] + rng.uniform(0.0, OUT_OF_ORDERNESS))
    assert shuffled != sorted(data, key=lambda e: e[2])
    produce(bootstrap, f"shop-events{suffix}", (encode(*e) for e in shuffled))
    end = max(ts for _, _, ts in data)
    produce(
        bootstrap,
        f"shop-events{suffix}",
        (encode(user, "view", end + 3 * 3600) for user in closers(4)),
    )

    expected = expected_hours(data)
    assert len(expected) >= 4 and sum(h["conversions"] for h in expected.values()) >= 10
    records = read_topic(
        bootstrap, f"conversions-hourly{suffix}", lambda rs: len(rs) >= len(expected), timeout=45
    )
    results = {}
    for record in records:
        window = json.loads(record.key())
        assert window["end"] - window["start"] == 3600
        assert window["key"] == time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(window["start"]))
        results[int(window["start"])] = json.loads(record.value())
    assert len(records) == len(expected)  # one final result per hour
    assert results == expected
