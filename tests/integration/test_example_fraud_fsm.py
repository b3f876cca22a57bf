"""The fraud_fsm example on the broker: two instances on four partitions, many payments, the
alerts compared with a reference model of the lifecycle computed here, offline."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from typing import Any

import pytest

from kstreamy.testing.topics import create_topics, produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000
PARTITIONS = 4

# The lifecycle, written independently of the application: state -> {event: next state}.
NEXT: dict[str | None, dict[str, str]] = {
    None: {"created": "created"},
    "created": {"authorized": "authorized", "cancelled": "cancelled"},
    "authorized": {"captured": "captured", "voided": "voided"},
    "captured": {"settled": "settled", "refunded": "refunded"},
    "settled": {"refunded": "refunded"},
}
DEADLINE_AFTER = {"authorized": 600, "captured": 1800}

Event = tuple[str, str, int]  # payment, event, event time


def expected_alerts(events: list[Event]) -> dict[str, list[dict[str, Any]]]:
    """Alerts per payment, in order, for events in arrival order, assuming the watermark ends
    past every deadline. A state not left by its deadline gives one timeout alert (when the
    next event of the payment is later than the deadline, before that event's own alert)."""
    state: dict[str, tuple[str | None, int | None, bool]] = {}
    alerts: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def timeout(key: str, current: str, since: int) -> dict[str, Any]:
        deadline = since + DEADLINE_AFTER[current]
        return dict(alert="timeout", payment=key, state=current, since=since, deadline=deadline)

    for key, event, ts in events:
        current, since, reported = state.get(key, (None, None, False))
        if current in DEADLINE_AFTER and not reported and ts > since + DEADLINE_AFTER[current]:
            alerts[key].append(timeout(key, current, since))
            reported = True
        nxt = NEXT.get(current, {}).get(event)
        if nxt is None:
            invalid = dict(alert="invalid_transition", payment=key, event=event, ts=ts)
            alerts[key].append({**invalid, "from": current})
            state[key] = (current, since, reported)
        else:
            state[key] = (nxt, ts, False)
    for key, (current, since, reported) in state.items():
        if current in DEADLINE_AFTER and not reported:
            alerts[key].append(timeout(key, current, since))
    return dict(alerts)


SCENARIOS = {
    "settled": ["created", "authorized", "captured", "settled"],
    "refunded": ["created", "authorized", "captured", "settled", "refunded"],
    "voided": ["created", "authorized", "voided"],
    "cancelled": ["created", "cancelled"],
    "never captured": ["created", "authorized"],
    "never settled": ["created", "authorized", "captured"],
    "capture first": ["created", "captured", "authorized", "captured", "settled"],
    "settled twice": ["created", "authorized", "captured", "settled", "settled"],
    "unknown event": ["created", "chargeback", "authorized", "voided"],
    "orphan refund": ["refunded"],
}


def workload(payments: int, rng: random.Random) -> list[Event]:
    """Events of many payments in arrival order. Steps of one payment are 40 s or more apart
    and arrival is shuffled by less than 20 s, within the app's 30 s out-of-orderness, so a
    follow-up in time is always processed before the watermark passes its deadline."""
    timed: list[tuple[float, Event]] = []
    for n in range(payments):
        key = f"pay-{n}"
        ts = rng.randrange(0, 3000)
        for step, event in enumerate(SCENARIOS[rng.choice(sorted(SCENARIOS))]):
            if step:
                # Mostly in time; sometimes well past a 600 s or 1800 s deadline.
                ts += rng.choice([40, 90, 300, 599, 600, 601, 900, 1799, 1801, 2500])
            timed.append((ts + rng.uniform(0, 19), (key, event, T0 + ts)))
    return [event for _, event in sorted(timed)]


def test_two_instances_raise_the_alerts_of_the_reference_model(bootstrap, instances):
    suffix = f"-{uuid.uuid4().hex[:8]}"
    payments, alerts_topic = f"payments{suffix}", f"payment-alerts{suffix}"
    create_topics(bootstrap, {payments: PARTITIONS, alerts_topic: PARTITIONS})
    pair = [
        instances.start(
            "example_app", f"fraud-fsm{suffix}", name=name, example="fraud_fsm", suffix=suffix
        )
        for name in ("a", "b")
    ]
    for instance in pair:
        instance.wait_running()
    # Produce once both own tasks, so no task moves (and repeats output) while processing.
    wait_until(lambda: all(i.partitions() for i in pair), 60, what="both instances own tasks")

    events = workload(300, random.Random(7))
    produce(
        bootstrap,
        payments,
        ((k.encode(), json.dumps({"event": e, "ts": ts}).encode()) for k, e, ts in events),
    )
    # Timers fire when a task's watermark passes them: a later event in every partition
    # moves every task's watermark past every deadline.
    flush = [(f"flush-{p}", "created", T0 + 100_000) for p in range(PARTITIONS)]
    for partition, (key, event, ts) in enumerate(flush):
        produce(
            bootstrap,
            payments,
            [(key.encode(), json.dumps({"event": event, "ts": ts}).encode())],
            partition=partition,
        )

    expected = expected_alerts(events + flush)
    total = sum(len(a) for a in expected.values())
    assert {a["alert"] for alerts in expected.values() for a in alerts} == {
        "timeout",
        "invalid_transition",
    }
    records = read_topic(bootstrap, alerts_topic, lambda r: len(r) >= total, timeout=45)
    actual: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:  # one payment's alerts are in one partition, in order
        actual[record.key().decode()].append(json.loads(record.value()))
    assert dict(actual) == expected
