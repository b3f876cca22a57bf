"""A stream-stream outer join over two co-partitioned topics, run by two instances, one of
which leaves half-way: the output is exactly the offline answer, every pair and every
unmatched record once, with the right timestamps."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from kstreamy.testing.topics import produce, read_all
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
BEFORE, AFTER, GRACE = 1.0, 3.0, 0.5  # right records 1 s before to 3 s after a left one
END = 10_000.0  # a last record on every partition of both topics: every window closes


def _records(rng: random.Random, side: str, count: int) -> list[tuple[float, str, str]]:
    """(time, key, id); times are multiples of 1/8 s, exact in binary floating point."""
    return [
        (rng.randrange(0, 8 * 200) / 8, f"k{rng.randrange(30)}", f"{side}{i}") for i in range(count)
    ]


def _expected(left, right) -> Counter:
    """Every pair within the window at the later time, every record without one at its own."""
    out: Counter = Counter()
    paired: set[str] = set()
    for lt, lkey, lid in left:
        for rt, rkey, rid in right:
            if lkey == rkey and lt - BEFORE <= rt <= lt + AFTER:
                out[(lkey, lid, rid, round(max(lt, rt) * 1000))] += 1
                paired.update((lid, rid))
    out.update((key, i, None, round(t * 1000)) for t, key, i in left if i not in paired)
    out.update((key, None, i, round(t * 1000)) for t, key, i in right if i not in paired)
    for p in range(PARTITIONS):
        out[(f"end-{p}", f"end-left-{p}", f"end-right-{p}", round(END * 1000))] += 1
    return out


def _encode(records):
    # Sorted by time: each partition of each topic is in event-time order, so no record is late
    # whatever order the instance reads the two topics in.
    for t, key, record_id in sorted(records):
        yield key.encode(), json.dumps({"id": record_id, "ts": t}).encode()


def _committed(instances, topic: str) -> int:
    return sum(
        offset
        for instance in instances
        for partition, offset in instance.status().get("committed", {}).items()
        if partition.startswith(f"{topic}[")
    )


def test_two_instances_join_two_copartitioned_topics_exactly(
    bootstrap, make_topic, unique_name, instances
):
    rng = random.Random(20240611)
    left_records, right_records = _records(rng, "L", 400), _records(rng, "R", 400)
    left = make_topic("left", PARTITIONS)
    right = make_topic("right", PARTITIONS)
    out = make_topic("out", PARTITIONS)
    settings = {
        "left": left,
        "right": right,
        "output": out,
        "before": BEFORE,
        "after": AFTER,
        "grace": GRACE,
    }
    app_id = unique_name("sjoin")
    first = instances.start("stream_join_app", app_id, **settings)
    second = instances.start("stream_join_app", app_id, **settings)
    pair = [first, second]
    wait_until(lambda: all(i.partitions() for i in pair), 90, what="both instances own tasks")

    half = [r for r in left_records if r[0] < 100], [r for r in right_records if r[0] < 100]
    produce(bootstrap, left, _encode(half[0]))
    produce(bootstrap, right, _encode(half[1]))
    wait_until(
        lambda: _committed(pair, left) == len(half[0]) and _committed(pair, right) == len(half[1]),
        90,
        what="the first half processed by both instances",
    )
    # Windows still open move with their tasks: their unmatched results come from the other
    # instance, after it restored the join's stores from the changelogs.
    second.terminate()
    assert second.wait_exit(60) == 0
    produce(bootstrap, left, _encode([r for r in left_records if r[0] >= 100]))
    produce(bootstrap, right, _encode([r for r in right_records if r[0] >= 100]))
    for p in range(PARTITIONS):
        end = {"ts": END}
        produce(
            bootstrap,
            left,
            [(f"end-{p}".encode(), json.dumps({**end, "id": f"end-left-{p}"}).encode())],
            partition=p,
        )
        produce(
            bootstrap,
            right,
            [(f"end-{p}".encode(), json.dumps({**end, "id": f"end-right-{p}"}).encode())],
            partition=p,
        )
    total_left, total_right = len(left_records) + PARTITIONS, len(right_records) + PARTITIONS
    wait_until(
        lambda: (
            _committed([first], left) == total_left and _committed([first], right) == total_right
        ),
        120,
        what="every record processed by the remaining instance",
    )

    output = Counter()
    for message in read_all(bootstrap, out):
        value = json.loads(message.value())
        key = message.key().decode()
        output[(key, value["left"], value["right"], message.timestamp()[1])] += 1
    expected = _expected(left_records, right_records)
    assert sum(expected.values()) > 600  # pairs and unmatched records of both sides
    assert output == expected, (
        f"missing {list((expected - output).elements())[:5]}, "
        f"unexpected {list((output - expected).elements())[:5]}"
    )
