"""Throughput of a windowed aggregation: kstreamy vs a raw confluent-kafka loop with a dict.

    python bench/windowed.py [--events 1000000] [--rounds 3] [--guarantee exactly_once]

Per key (10,000 keys), 60 s tumbling windows of event time with the count and the mean of a
value, emitted once per window when final: when the watermark (the largest event time seen minus
the 2 s out-of-orderness bound) passes the window's end. Events carry their time in the JSON
value, up to 2 s out of order. The raw loop holds open windows in a dict, tracks the same
watermark and writes the same JSON results; both sides parse and write JSON with orjson. At
least once, both commit input offsets every 5 s after flushing; exactly once, both commit a
transaction with the outputs and the input offsets every 100 ms (kstreamy's default; kstreamy's
changelog records go in the same transaction). Target: kstreamy >= 60% of the raw loop.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
import uuid
from collections.abc import Iterator

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
    time_app,
)

from kstreamy import App
from kstreamy.windows import Tumbling

COMMIT_INTERVAL_S = {"at_least_once": 5.0, "exactly_once": 0.1}
WINDOW_MS = 60_000
OUT_OF_ORDER_MS = 2_000
START_MS = 1_700_000_000_000


def readings(count: int, keys: int, seed: int = 7) -> Iterator[tuple[bytes, bytes]]:
    """One event per ms of event time (1M events span about 17 minutes, 17 windows a key)."""
    rng = random.Random(seed)
    for i in range(count):
        key = f"sensor-{rng.randrange(keys)}"
        ts = START_MS + i - rng.randrange(OUT_OF_ORDER_MS)
        yield key.encode(), orjson.dumps({"ts": ts / 1000, "value": rng.randrange(100)})


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
    windows: dict[tuple[bytes, int], list] = {}
    max_seen: dict[int, int] = {}
    watermark = -(2**63)
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
            ts = int(event["ts"] * 1000)
            partition = message.partition()
            if ts > max_seen.get(partition, -(2**63)):
                max_seen[partition] = ts
            start = ts - ts % WINDOW_MS
            if start + WINDOW_MS <= watermark:
                processed += 1
                continue  # late
            window = windows.get((message.key(), start))
            if window is None:
                windows[(message.key(), start)] = [1, event["value"]]
            else:
                window[0] += 1
                window[1] += event["value"]
            processed += 1
        if len(max_seen) == 4 and (in_transaction or not transactional):
            new_mark = min(max_seen.values()) - OUT_OF_ORDER_MS
            if new_mark > watermark:
                watermark = new_mark
                for key, start in [w for w in windows if w[1] + WINDOW_MS <= watermark]:
                    n, total = windows.pop((key, start))
                    out = dumps({"n": n, "mean": total / n})
                    producer.produce(sink, out, key + start.to_bytes(8, "big"), timestamp=start)
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
        f"bench-win-{uuid.uuid4().hex[:6]}",
        bootstrap_servers=bootstrap,
        processing_guarantee=guarantee,
        commit_interval_ms=int(COMMIT_INTERVAL_S[guarantee] * 1000),
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
        state_dir=tempfile.mkdtemp(prefix="kstreamy-bench-"),
    )
    (
        app.stream(
            source,
            key_serde="str",
            value_serde="json",
            timestamp=lambda key, event, record_ts: event["ts"],
            max_out_of_orderness=OUT_OF_ORDER_MS / 1000,
        )
        .group_by_key()
        .window(Tumbling(WINDOW_MS / 1000))
        .aggregate(
            lambda: [0, 0],
            lambda key, event, acc: [acc[0] + 1, acc[1] + event["value"]],
            store="per-minute",
        )
        .emit_final()
        .to_stream()
        .map_values(lambda acc: {"n": acc[0], "mean": acc[1] / acc[0]})
        .to(sink, value_serde="json")
    )
    return time_app(app, events)


def main() -> None:
    parser_args = arguments(__doc__.splitlines()[0], 1_000_000, rounds=3, guarantee=True)
    g = parser_args.guarantee
    logging.basicConfig(level=logging.WARNING)
    with broker(parser_args.bootstrap_servers) as bootstrap:
        source = input_topic(bootstrap, readings(parser_args.events, 10_000), "bench-windowed-in")
        medians = median_rates(
            parser_args.rounds,
            {
                "raw": lambda: run_raw(
                    bootstrap, source, new_topic(bootstrap, "bench-raw-win"), parser_args.events, g
                ),
                "kstreamy": lambda: run_kstreamy(
                    bootstrap, source, new_topic(bootstrap, "bench-ks-win"), parser_args.events, g
                ),
            },
        )
    print(f"medians of {parser_args.rounds} rounds:")
    report(
        f"kstreamy windowed (final, {g})",
        medians["kstreamy"],
        "raw loop with a dict",
        medians["raw"],
        0.60,
    )


if __name__ == "__main__":
    main()
