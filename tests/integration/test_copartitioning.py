"""Co-partitioned inputs of a join live in one instance, through rebalances."""

from __future__ import annotations

import json

import pytest

from kstreamy.testing.topics import produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

USERS = 200


def _users():
    for u in range(USERS):
        yield f"user-{u}".encode(), json.dumps({"country": f"c{u % 7}"}).encode()


def _clicks(start: int, stop: int):
    for i in range(start, stop):
        yield f"user-{i % USERS}".encode(), json.dumps({"click": i}).encode()


def _committed_total(instances, topic: str) -> int:
    total = 0
    for instance in instances:
        for partition, offset in instance.status().get("committed", {}).items():
            if partition.startswith(f"{topic}["):
                total += offset
    return total


def test_join_inputs_stay_together_while_instances_come_and_go(
    bootstrap, make_topic, unique_name, instances
):
    clicks, users, out = make_topic("clicks", 4), make_topic("users", 4), make_topic("out", 4)
    app_id = unique_name("join")
    produce(bootstrap, users, _users())
    settings = {"clicks": clicks, "users": users, "output": out}
    first = instances.start("join_app", app_id, **settings)
    second = instances.start("join_app", app_id, **settings)
    pair = [first, second]
    wait_until(lambda: all(i.partitions() for i in pair), 90, what="both instances own tasks")
    # The table side is read by each instance at the partitions of the tasks it owns.
    wait_until(lambda: _committed_total(pair, users) == USERS, 60, what="users table loaded")
    for instance in pair:
        owned = {p.split("[")[1] for p in instance.partitions()}
        committed_users = {
            p.split("[")[1] for p in instance.status()["committed"] if p.startswith(users)
        }
        assert committed_users <= owned

    produce(bootstrap, clicks, _clicks(0, 1000))
    second.terminate()
    assert second.wait_exit(60) == 0
    produce(bootstrap, clicks, _clicks(1000, 2000))

    output = read_topic(bootstrap, out, lambda r: len(r) >= 2000, timeout=90)
    by_click = {json.loads(r.value())["click"]: json.loads(r.value()) for r in output}
    assert set(by_click) == set(range(2000))
    wrong = [c for c, v in by_click.items() if v["country"] != f"c{(c % USERS) % 7}"]
    assert not wrong, f"{len(wrong)} clicks joined with the wrong or no user, e.g. {wrong[:5]}"


def test_partition_count_mismatch_is_a_clear_error(bootstrap, make_topic, unique_name, instances):
    clicks, users = make_topic("clicks", 4), make_topic("users", 3)
    instance = instances.start(
        "join_app",
        unique_name("mismatch"),
        clicks=clicks,
        users=users,
        output=make_topic("out", 4),
    )
    assert instance.wait_exit(60) == 1
    expected = (
        "must have the same number of partitions (co-partitioning), "
        f"but have: {clicks} (4), {users} (3)"
    )
    assert expected in instance.log()
