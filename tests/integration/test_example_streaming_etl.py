"""The streaming_etl example on the broker: two instances, customers loaded first, then raw
orders of every kind. Each raw order is generated from a description of what it is, and that
description gives the expected result offline: a clean record, a rejection with its reason, a
dead letter, or (a test customer's order) nothing."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from typing import Any

import pytest

from kstreamy.testing.topics import create_topics, produce, read_all, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4

Raw = tuple[bytes | None, bytes | None]


def customers(rng: random.Random) -> tuple[dict[str, dict[str, Any]], list[Raw], set[str]]:
    """The table as it ends up, the records that make it (with deletions), the deleted ids."""
    rows = {
        f"c-{n}": {
            "name": f"Customer {n}",
            "country": rng.choice(["UK", "DE", "FR"]),
            "test": n % 7 == 0,
        }
        for n in range(40)
    }
    deleted = {"c-38", "c-39"}
    records: list[Raw] = [(k.encode(), json.dumps(v).encode()) for k, v in rows.items()]
    records += [(k.encode(), None) for k in sorted(deleted)]
    return {k: v for k, v in rows.items() if k not in deleted}, records, deleted


def canonical(value: Any) -> str:
    """JSON to compare by: the same for equal values, whatever order the keys came in."""
    return json.dumps(value, sort_keys=True)


def messy(text: str, rng: random.Random) -> str:
    """The same id or code as an upstream system might write it."""
    cased = "".join(c.upper() if rng.random() < 0.5 else c for c in text)
    return rng.choice(["", " ", "  "]) + cased + rng.choice(["", " "])


def amount_text(cents: int, rng: random.Random) -> Any:
    options: list[Any] = [f"{cents / 100:.2f}", cents / 100]
    if cents % 100 == 0:
        options.append(cents // 100)
    return rng.choice(options)


def orders(
    rows: dict[str, dict[str, Any]], deleted: set[str], count: int, rng: random.Random
) -> tuple[list[Raw], dict[str, dict[str, Any]], Counter, list[bytes]]:
    """Raw orders, with the clean records, rejections and dead letters they must give."""
    real = sorted(k for k, v in rows.items() if not v["test"])
    tests = sorted(k for k, v in rows.items() if v["test"])
    raw: list[Raw] = []
    clean: dict[str, dict[str, Any]] = {}
    rejected: Counter = Counter()  # (key, JSON of the rejection) -> times
    dead: list[bytes] = []
    kinds = ["clean"] * 6 + ["test", "unknown", "invalid", "invalid", "not json"]
    for n in range(count):
        order_id = f"o-{n}"
        kind = rng.choice(kinds)
        customer = rng.choice(tests if kind == "test" else real)
        if kind == "unknown":
            customer = rng.choice([f"c-{100 + n}", *sorted(deleted)])
        cents, currency = rng.randrange(1, 100_000), rng.choice(["EUR", "USD", "GBP"])
        value: Any = {
            "customer": messy(customer, rng),
            "amount": amount_text(cents, rng),
            "currency": messy(currency, rng),
        }
        normalized = {
            "order_id": order_id,
            "customer_id": customer,
            "amount_cents": cents,
            "currency": currency,
        }
        key: str | None = order_id
        if kind == "clean":
            row = rows[customer]
            clean[order_id] = {
                **normalized,
                "customer_name": row["name"],
                "country": row["country"],
            }
        elif kind == "unknown":
            rejected[(key, canonical({"reason": "unknown customer", "record": normalized}))] += 1
        elif kind == "invalid":
            reason, value, key = rng.choice(
                [
                    ("missing customer", {**value, "customer": " "}, key),
                    ("invalid amount", {**value, "amount": f"{cents / 1000:.3f}1"}, key),
                    ("invalid amount", {**value, "amount": -cents}, key),
                    ("invalid amount", {**value, "amount": "12,50"}, key),
                    ("unknown currency", {**value, "currency": "JPY"}, key),
                    ("not a JSON object", [value], key),
                    ("missing order id", value, None),
                ]
            )
            rejected[(key, canonical({"reason": reason, "record": value}))] += 1
        if kind == "not json":
            body = json.dumps(value).encode()[:-3]  # cut short
            dead.append(body)
        else:
            body = json.dumps(value).encode()
        raw.append((None if key is None else key.encode(), body))
    return raw, clean, rejected, dead


def test_two_instances_clean_reject_and_dead_letter_every_order(bootstrap, instances):
    suffix = f"-{uuid.uuid4().hex[:8]}"
    topic = {
        name: f"{name}{suffix}"
        for name in ("customers", "raw-orders", "orders-clean", "orders-rejected")
    }
    create_topics(bootstrap, {topic["customers"]: PARTITIONS}, {"cleanup.policy": "compact"})
    create_topics(bootstrap, {topic[n]: PARTITIONS for n in topic if n != "customers"})
    rng = random.Random(11)
    rows, customer_records, deleted = customers(rng)
    produce(bootstrap, topic["customers"], customer_records)

    app_id = f"streaming-etl{suffix}"
    pair = [
        instances.start("example_app", app_id, name=name, example="streaming_etl", suffix=suffix)
        for name in ("a", "b")
    ]
    for instance in pair:
        instance.wait_running()
    wait_until(lambda: all(i.partitions() for i in pair), 60, what="both instances own tasks")
    # A stream-table join sees the table as it is: wait until every customer row (and
    # deletion) is in the table's changelog before any order arrives.
    table: dict[str, Any] = {}
    seen = 0

    def loaded(records) -> bool:
        nonlocal seen
        for record in records[seen:]:
            value = record.value()
            table[record.key().decode()] = None if value is None else json.loads(value)
        seen = len(records)
        present = {k: v for k, v in table.items() if v is not None}
        return present == rows and all(k in table for k in deleted)

    read_topic(bootstrap, f"{app_id}-customers-changelog", loaded, timeout=30)
    assert {k: v for k, v in table.items() if v is not None} == rows

    raw, clean, rejected, dead = orders(rows, deleted, 400, rng)
    produce(bootstrap, topic["raw-orders"], raw)

    clean_read = read_topic(bootstrap, topic["orders-clean"], lambda r: len(r) >= len(clean), 45)
    total_rejected = sum(rejected.values())
    rejected_read = read_topic(
        bootstrap, topic["orders-rejected"], lambda r: len(r) >= total_rejected, 30
    )
    dead_read = read_topic(bootstrap, f"{app_id}-dlq", lambda r: len(r) >= len(dead), 30)

    assert {r.key().decode(): json.loads(r.value()) for r in clean_read} == clean
    assert len(clean_read) == len(clean)
    assert (
        Counter(
            (
                None if r.key() is None else r.key().decode(),
                canonical(json.loads(r.value())),
            )
            for r in rejected_read
        )
        == rejected
    )
    assert sorted(r.value() for r in dead_read) == sorted(dead)
    # Each dead letter names where it was read: that is where its bytes are.
    source = {
        (m.partition(), m.offset()): m.value() for m in read_all(bootstrap, topic["raw-orders"])
    }
    for record in dead_read:
        headers = dict(record.headers())
        assert headers["kstreamy.error.topic"].decode() == topic["raw-orders"]
        assert headers["kstreamy.error.stage"] == b"deserialization"
        where = (int(headers["kstreamy.error.partition"]), int(headers["kstreamy.error.offset"]))
        assert source[where] == record.value()
    kinds = Counter(json.loads(reason)["reason"] for _, reason in rejected)
    assert len(kinds) == 6 and dead and clean  # the workload covered every outcome
