"""Throughput of a stateless map+filter pipeline: kstreamy vs a raw confluent-kafka loop.

    python bench/stateless.py [--events 1000000] [--guarantee exactly_once]

Both sides read the same JSON events, drop those without a value, add a Fahrenheit field and
write the result. Both parse and write JSON with orjson, the library kstreamy's JSON serde uses,
so the ratio measures the library's own overhead, not a JSON library. At least once, both commit
input offsets every 5 s after flushing; exactly once, both commit a transaction with the outputs
and the input offsets every 100 ms (kstreamy's default). Target: >= 90% under either guarantee.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid

import orjson
from common import (
    ProgressClock,
    arguments,
    broker,
    input_topic,
    median_rates,
    new_topic,
    raw_clients,
    raw_commit,
    report,
    sensor_events,
    time_app,
)

from kstreamy import App

COMMIT_INTERVAL_S = {"at_least_once": 5.0, "exactly_once": 0.1}


def keep(key, event) -> bool:
    return event["value"] is not None


def enrich(event):
    return {**event, "fahrenheit": event["value"] * 9 / 5 + 32}


def run_raw(bootstrap: str, source: str, sink: str, events: int, guarantee: str) -> float:
    transactional = guarantee == "exactly_once"
    consumer, producer = raw_clients(bootstrap, source, transactional)
    processed = 0
    done = False

    def finish() -> None:
        nonlocal done
        done = True

    clock = ProgressClock(lambda: processed, events, finish).start()
    loads, dumps = orjson.loads, orjson.dumps
    interval = COMMIT_INTERVAL_S[guarantee]
    next_commit = time.monotonic() + interval
    in_transaction = False
    while not done:
        messages = consumer.consume(2000, 0.1)
        if transactional and messages and not in_transaction:
            producer.begin_transaction()
            in_transaction = True
        for message in messages:
            if message.error() is not None:
                continue
            event = loads(message.value())
            if keep(message.key(), event):
                out = dumps(enrich(event))
                producer.produce(sink, out, message.key(), timestamp=message.timestamp()[1])
            processed += 1
        producer.poll(0)
        if time.monotonic() >= next_commit:
            in_transaction = raw_commit(consumer, producer, in_transaction, transactional)
            next_commit = time.monotonic() + interval
    if in_transaction:
        producer.abort_transaction()
    producer.flush()
    consumer.close()
    return clock.rate()


def run_kstreamy(bootstrap: str, source: str, sink: str, events: int, guarantee: str) -> float:
    app = App(
        f"bench-{uuid.uuid4().hex[:6]}",
        bootstrap_servers=bootstrap,
        processing_guarantee=guarantee,
        commit_interval_ms=int(COMMIT_INTERVAL_S[guarantee] * 1000),
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
        state_dir=tempfile.mkdtemp(prefix="kstreamy-bench-"),
    )
    app.stream(source, value_serde="json").filter(keep).map_values(enrich).to(sink)
    return time_app(app, events)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 1_000_000, guarantee=True)
    logging.basicConfig(level=logging.WARNING)
    g = args.guarantee
    with broker(args.bootstrap_servers) as bootstrap:
        source = input_topic(bootstrap, sensor_events(args.events), "bench-stateless-in")
        medians = median_rates(
            args.rounds,
            {
                "raw": lambda: run_raw(
                    bootstrap, source, new_topic(bootstrap, "bench-raw-out"), args.events, g
                ),
                "kstreamy": lambda: run_kstreamy(
                    bootstrap, source, new_topic(bootstrap, "bench-ks-out"), args.events, g
                ),
            },
        )
    print(f"medians of {args.rounds} rounds:")
    report(
        f"kstreamy map+filter ({g})",
        medians["kstreamy"],
        "raw confluent-kafka loop",
        medians["raw"],
        0.90,
    )


if __name__ == "__main__":
    main()
