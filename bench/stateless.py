"""Throughput of a stateless map+filter pipeline: kstreamy vs a raw confluent-kafka loop.

    python bench/stateless.py [--events 1000000] [--bootstrap-servers host:port]

Both sides read the same JSON events, drop those without a value, add a Fahrenheit field and
write the result, committing input offsets every 5 s (at least once). Both parse and write JSON
with orjson, the library kstreamy's JSON serde uses, so the ratio measures the library's own
overhead, not a JSON library. Target: >= 80%.
"""

from __future__ import annotations

import logging
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
    report,
    sensor_events,
    time_app,
)

from kstreamy import App

COMMIT_INTERVAL_S = 5.0


def keep(key, event) -> bool:
    return event["value"] is not None


def enrich(event):
    return {**event, "fahrenheit": event["value"] * 9 / 5 + 32}


def run_raw(bootstrap: str, source: str, sink: str, events: int) -> float:
    consumer, producer = raw_clients(bootstrap, source)
    processed = 0
    done = False

    def finish() -> None:
        nonlocal done
        done = True

    clock = ProgressClock(lambda: processed, events, finish).start()
    loads, dumps = orjson.loads, orjson.dumps
    next_commit = time.monotonic() + COMMIT_INTERVAL_S
    while not done:
        for message in consumer.consume(2000, 0.1):
            if message.error() is not None:
                continue
            event = loads(message.value())
            if keep(message.key(), event):
                out = dumps(enrich(event))
                producer.produce(sink, out, message.key(), timestamp=message.timestamp()[1])
            processed += 1
        producer.poll(0)
        if time.monotonic() >= next_commit:
            producer.flush()
            consumer.commit(asynchronous=False)
            next_commit = time.monotonic() + COMMIT_INTERVAL_S
    producer.flush()
    consumer.close()
    return clock.rate()


def run_kstreamy(bootstrap: str, source: str, sink: str, events: int) -> float:
    app = App(
        f"bench-{uuid.uuid4().hex[:6]}",
        bootstrap_servers=bootstrap,
        commit_interval_ms=int(COMMIT_INTERVAL_S * 1000),
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
        state_dir="/tmp/kstreamy-bench",
    )
    app.stream(source, value_serde="json").filter(keep).map_values(enrich).to(sink)
    return time_app(app, events)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 1_000_000)
    logging.basicConfig(level=logging.WARNING)
    with broker(args.bootstrap_servers) as bootstrap:
        source = input_topic(bootstrap, sensor_events(args.events), "bench-stateless-in")
        medians = median_rates(
            args.rounds,
            {
                "raw": lambda: run_raw(
                    bootstrap, source, new_topic(bootstrap, "bench-raw-out"), args.events
                ),
                "kstreamy": lambda: run_kstreamy(
                    bootstrap, source, new_topic(bootstrap, "bench-ks-out"), args.events
                ),
            },
        )
    print(f"medians of {args.rounds} rounds:")
    report(
        "kstreamy map+filter", medians["kstreamy"], "raw confluent-kafka loop", medians["raw"], 0.80
    )


if __name__ == "__main__":
    main()
