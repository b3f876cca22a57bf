"""Shared set-up for the benchmarks: a broker, an input topic, timing helpers.

Every benchmark compares kstreamy with a hand-written confluent-kafka loop doing the same work,
in the same process session, on the same broker and input, and prints the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from kstreamy.testing.broker import EmbeddedBroker
from kstreamy.testing.topics import create_topics, partitions_of, produce

PARTITIONS = 4


def arguments(
    description: str,
    events: int,
    rounds: int = 5,
    guarantee: bool = False,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options every benchmark has; ``more`` adds a benchmark's own."""
    parser = argparse.ArgumentParser(description=description)
    if more is not None:
        more(parser)
    if guarantee:
        parser.add_argument(
            "--guarantee",
            choices=["at_least_once", "exactly_once"],
            default="at_least_once",
            help="processing guarantee of both sides",
        )
    parser.add_argument("--events", type=int, default=events, help="input events")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KSTREAMY_BOOTSTRAP"),
        help="an external broker (default: start the embedded one)",
    )
    parser.add_argument("--rounds", type=int, default=rounds, help="repeat both sides this often")
    return parser.parse_args()


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    with EmbeddedBroker() as embedded:
        yield embedded.bootstrap_servers


def sensor_events(count: int, seed: int = 1) -> Iterator[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    for i in range(count):
        sensor = f"sensor-{rng.randrange(1000)}"
        value = None if rng.random() < 0.05 else round(rng.uniform(-20, 45), 2)
        event = {"id": i, "sensor": sensor, "value": value, "ts": 1700000000 + i / 1000}
        yield sensor.encode(), orjson.dumps(event)


def input_topic(bootstrap: str, events: Iterator[tuple[bytes | None, bytes]], name: str) -> str:
    topic = f"{name}-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, {topic: PARTITIONS})
    started = time.monotonic()
    count = produce(bootstrap, topic, events)
    print(f"produced {count} events to {topic} in {time.monotonic() - started:.1f}s", flush=True)
    return topic


def new_topic(bootstrap: str, name: str) -> str:
    topic = f"{name}-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, {topic: PARTITIONS})
    return topic


class OutputCounter:
    """Counts the records arriving on a topic, from its beginning, in a background thread.

    A progress signal that is the same for every side of a comparison: the records a pipeline
    has written, whatever it does internally (repartition topics, changelogs, several
    sub-topologies).
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.count = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-output-counter",  # never joined or committed
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions_of(bootstrap, topic)]
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> OutputCounter:
        self._thread.start()
        return self

    def _run(self) -> None:
        consume = self._consumer.consume
        while not self._stop.is_set():
            self.count += sum(1 for m in consume(10000, 0.1) if m.error() is None)
        self._consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Rate(float):
    """Records/s of one run (or a median of runs), carrying the CPU time this process spent per
    record over the same span, in microseconds: all its threads, the Python loop and the Kafka
    client's. The broker runs in another process and is not counted. On a small shared machine,
    where the broker competes for the same cores, throughput swings by a quarter from one run
    to the next; CPU per record is much steadier, so both are reported."""

    cpu_us: float | None = None

    @classmethod
    def of(cls, rate: float, cpu_us: float | None) -> Rate:
        result = cls(rate)
        result.cpu_us = cpu_us
        return result


class ProgressClock:
    """Times from the first processed record to the last, watching a counter from a thread.

    Group join time is left out on both sides: it depends on the broker, not on the loop.
    """

    def __init__(self, counter: Callable[[], int], target: int, on_done: Callable[[], None]):
        self.counter = counter
        self.target = target
        self.on_done = on_done
        self.first: float | None = None
        self.last: float | None = None
        self.cpu_first = self.cpu_last = 0.0
        self.first_seen = self.records_timed = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> ProgressClock:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while True:
            seen = self.counter()
            now, cpu = time.perf_counter(), time.process_time()
            if self.first is None and seen > 0:
                self.first, self.cpu_first, self.first_seen = now, cpu, seen
            if seen >= self.target:
                self.last, self.cpu_last = now, cpu
                self.records_timed = seen - self.first_seen
                self.on_done()
                return
            time.sleep(0.002)

    def rate(self) -> Rate:
        self._thread.join()
        assert self.first is not None and self.last is not None
        cpu_us = (self.cpu_last - self.cpu_first) / max(self.records_timed, 1) * 1e6
        return Rate.of(self.target / (self.last - self.first), cpu_us)


def raw_clients(
    bootstrap: str, source: str, transactional: bool = False
) -> tuple[Consumer, Producer]:
    """The hand-written loop's clients, tuned like kstreamy's (same librdkafka settings), so the
    ratio measures the library, not client tuning. ``transactional``: a transactional producer
    and a read_committed consumer, as kstreamy uses under exactly-once."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 10000,
            "fetch.queue.backoff.ms": 10,
            **({"isolation.level": "read_committed"} if transactional else {}),
        }
    )
    producer_settings: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 100,
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
    }
    if transactional:
        producer_settings["transactional.id"] = f"raw-{uuid.uuid4().hex[:6]}"
    producer = Producer(producer_settings)
    if transactional:
        producer.init_transactions()
    consumer.subscribe([source])
    return consumer, producer


def raw_commit(
    consumer: Consumer, producer: Producer, in_transaction: bool, transactional: bool
) -> bool:
    """The raw loops' commit, as kstreamy commits: the open transaction with the consumer's
    positions (exactly once), or flush then a synchronous offset commit (at least once).
    Returns whether a transaction is still open (never, after this)."""
    if in_transaction:
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata())
        producer.commit_transaction()
    elif not transactional:
        producer.flush()
        consumer.commit(asynchronous=False)
    return False


def median_rates(rounds: int, sides: dict[str, Callable[[], float]]) -> dict[str, Rate]:
    """Run each side ``rounds`` times, alternating which goes first, and return the medians
    (of the rates and, where the runs measured it, of the CPU time per record).

    On a 2-core machine one run of the same loop can differ from the next by a third; medians of
    alternating runs make the ratio repeatable.
    """
    rates: dict[str, list[float]] = {label: [] for label in sides}
    for round_ in range(rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for label in order:
            rate = sides[label]()
            rates[label].append(rate)
            cpu = getattr(rate, "cpu_us", None)
            cpu_text = f"  {cpu:6.2f} us CPU/record" if cpu is not None else ""
            print(f"  round {round_ + 1}: {label:<28} {rate:>12,.0f}/s{cpu_text}", flush=True)
    medians = {}
    for label, values in rates.items():
        cpus = [v.cpu_us for v in values if getattr(v, "cpu_us", None) is not None]
        medians[label] = Rate.of(
            statistics.median(values), statistics.median(cpus) if cpus else None
        )
    return medians


def time_app(app: Any, events: int) -> float:
    """Run ``app`` in this process until it has processed ``events`` input records; return
    records/s from its first record to its last (group join left out)."""
    clock = ProgressClock(
        lambda: app.metrics.records_processed if app.metrics else 0, events, app.stop
    ).start()
    app.run()
    return clock.rate()


def report(
    label_a: str,
    rate_a: float,
    label_b: str,
    rate_b: float,
    target: float,
    unit: str = "events",
) -> None:
    ratio = rate_a / rate_b
    print(f"{label_a:<28} {rate_a:>12,.0f} {unit}/s")
    print(f"{label_b:<28} {rate_b:>12,.0f} {unit}/s")
    verdict = "meets" if ratio >= target else "BELOW"
    print(f"ratio {ratio:.1%} ({verdict} the target of {target:.0%})", flush=True)
    cpu_a, cpu_b = getattr(rate_a, "cpu_us", None), getattr(rate_b, "cpu_us", None)
    if cpu_a and cpu_b:
        print(
            f"CPU of this process per {unit[:-1]}: {cpu_a:.2f} us against {cpu_b:.2f} us "
            f"({cpu_a - cpu_b:+.2f} us; CPU ratio {cpu_b / cpu_a:.1%})",
            flush=True,
        )
