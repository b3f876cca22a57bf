"""Throughput of a word count: kstreamy vs a raw confluent-kafka loop.

    python bench/wordcount.py [--events 200000] [--rounds 5] [--bootstrap-servers host:port]

Input: ``--events`` lines of 6 to 10 words (8 on average) drawn with Zipf-like frequencies from
a vocabulary of 10,000 words (deterministic), in a 4-partition topic without keys.

kstreamy splits lines into words with ``flat_map``, repartitions by word through a topic
(``group_by_key`` after a key change), counts in a RocksDB store with a changelog and writes
every new count to the output topic. The raw loop splits lines, counts in a Python dict and
produces every new count to its output topic; both commit input offsets every 5 s after
flushing (at least once), and both write one record per word occurrence.

Progress signal: a separate consumer thread counts the records arriving on each side's output
topic, and the clock runs from the first output record to the last. kstreamy's own
``records_processed`` counts the records of both of its sub-topologies (lines, then the words
read back from the repartition topic), so it is not comparable with the raw loop's counter;
output records are, and they also include the repartition hop in kstreamy's time. Rates are
given in input lines per second (output records / words per line). Target: >= 50%.
"""

from __future__ import annotations

import itertools
import logging
import random
import struct
import tempfile
import time
import uuid

from common import (
    OutputCounter,
    ProgressClock,
    arguments,
    broker,
    input_topic,
    median_rates,
    new_topic,
    raw_clients,
    report,
)
from confluent_kafka import Producer

from kstreamy import App

COMMIT_INTERVAL_S = 5.0
VOCABULARY = 10_000


def text_lines(count: int, seed: int = 7) -> list[bytes]:
    """``count`` lines of 6-10 words; word frequencies fall off as 1/rank, as in real text."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choices(letters, k=rng.randint(3, 9))))
    vocabulary = sorted(words)
    rng.shuffle(vocabulary)
    weights = list(itertools.accumulate(1 / rank for rank in range(1, VOCABULARY + 1)))
    return [
        " ".join(rng.choices(vocabulary, cum_weights=weights, k=rng.randint(6, 10))).encode()
        for _ in range(count)
    ]


def run_raw(bootstrap: str, source: str, sink: str, words: int) -> float:
    consumer, producer = raw_clients(bootstrap, source)
    counter = OutputCounter(bootstrap, sink).start()
    done = False

    def finish() -> None:
        nonlocal done
        done = True

    clock = ProgressClock(lambda: counter.count, words, finish).start()
    produce, pack = producer.produce, struct.Struct(">q").pack
    counts: dict[str, int] = {}
    next_commit = time.monotonic() + COMMIT_INTERVAL_S
    while not done:
        for message in consumer.consume(2000, 0.1):
            if message.error() is not None:
                continue
            timestamp = message.timestamp()[1]
            for word in message.value().decode().split():
                n = counts.get(word, 0) + 1
                counts[word] = n
                try:
                    produce(sink, pack(n), word.encode(), timestamp=timestamp)
                except BufferError:
                    _produce_when_room(producer, sink, pack(n), word.encode(), timestamp)
        producer.poll(0)
        if time.monotonic() >= next_commit:
            producer.flush()
            consumer.commit(asynchronous=False)
            next_commit = time.monotonic() + COMMIT_INTERVAL_S
    producer.flush()
    consumer.close()
    rate = clock.rate()
    counter.stop()
    return rate


def _produce_when_room(
    producer: Producer, topic: str, value: bytes, key: bytes, timestamp: int
) -> None:
    while True:
        producer.poll(0.05)
        try:
            producer.produce(topic, value, key, timestamp=timestamp)
            return
        except BufferError:
            continue


def run_kstreamy(bootstrap: str, source: str, sink: str, words: int) -> float:
    with tempfile.TemporaryDirectory(prefix="kstreamy-bench-") as state_dir:
        app = App(
            f"bench-wc-{uuid.uuid4().hex[:6]}",
            bootstrap_servers=bootstrap,
            commit_interval_ms=int(COMMIT_INTERVAL_S * 1000),
            session_timeout_ms=6000,
            max_poll_interval_ms=10000,
            state_dir=state_dir,
        )
        (
            app.stream(source, value_serde="str")
            .flat_map(lambda k, line: [(w, w) for w in line.split()])
            .group_by_key(name="words", key_serde="str", value_serde="str")
            .count(store="word-counts")
            .to(sink, value_serde="int")
        )
        counter = OutputCounter(bootstrap, sink).start()
        clock = ProgressClock(lambda: counter.count, words, app.stop).start()
        app.run()
        rate = clock.rate()
        counter.stop()
        return rate


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 200_000)
    logging.basicConfig(level=logging.WARNING)
    lines = text_lines(args.events)
    words = sum(len(line.split()) for line in lines)
    print(f"{len(lines)} lines, {words} words ({words / len(lines):.2f} per line)", flush=True)
    with broker(args.bootstrap_servers) as bootstrap:
        source = input_topic(bootstrap, ((None, line) for line in lines), "bench-wc-in")
        per_line = len(lines) / words
        medians = median_rates(
            args.rounds,
            {
                "raw": lambda: (
                    per_line
                    * run_raw(bootstrap, source, new_topic(bootstrap, "bench-raw-out"), words)
                ),
                "kstreamy": lambda: (
                    per_line
                    * run_kstreamy(bootstrap, source, new_topic(bootstrap, "bench-ks-out"), words)
                ),
            },
        )
        print(f"medians of {args.rounds} rounds (lines/s):")
        report(
            "kstreamy word count",
            medians["kstreamy"],
            "raw confluent-kafka loop",
            medians["raw"],
            0.50,
            unit="lines",
        )


if __name__ == "__main__":
    main()
