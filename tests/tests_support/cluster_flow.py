"""A steady stream through a running application, for fault tests on a cluster.

:class:`Feeder` produces input record ``n`` (``n = 0, 1, ...``) at a fixed rate from a thread,
with an idempotent producer, so a broker failure never duplicates or reorders input.
:class:`OutputWatcher` reads the output with ``read_committed`` from a thread and notes when each
record became visible. Each :class:`FlowPipeline` knows, for every output record, the lowest
input index it needs; an output whose index is at or past the feeder's position at a kill is new,
so the pause a fault causes is the time from the kill to the first new output becoming visible.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import logging_settings
from kstreamy.testing.topics import partitions_of, produce
from tests_support.waiting import wait_until

Record = tuple[bytes, bytes]


class Feeder(threading.Thread):
    """Produces ``make(n)`` for n = 0, 1, ... at ``rate`` records per second until stopped."""

    def __init__(self, bootstrap: str, topic: str, make: Callable[[int], Record], rate: float):
        super().__init__(daemon=True, name=f"feeder-{topic}")
        self.bootstrap, self.topic, self.make, self.rate = bootstrap, topic, make, rate
        self.sent = 0
        """Records handed to the producer so far (input indexes below it are on their way)."""
        self.failures: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                **logging_settings(),
                "enable.idempotence": True,  # retries after a broker failure add no duplicates
                "linger.ms": 5,
                "partitioner": "murmur2_random",
            }
        )

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                self.failures.append(err.str())

        started = time.monotonic()
        while not self._stop_event.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                key, value = self.make(self.sent)
                try:
                    producer.produce(self.topic, value, key, on_delivery=delivered)
                except BufferError:
                    break
                self.sent += 1
            producer.poll(0.02)
        if producer.flush(120):
            self.failures.append("input records not acknowledged within 120 s")

    def halt(self) -> None:
        """Stop producing, without waiting (clean-up after a failure)."""
        self._stop_event.set()

    def stop(self) -> int:
        """Stop producing, wait until everything is acknowledged; returns how many were sent."""
        self._stop_event.set()
        self.join(150)
        assert not self.is_alive(), "the feeder did not finish"
        assert not self.failures, f"input not delivered: {self.failures[:3]}"
        return self.sent


@dataclass
class Seen:
    at: float  # time.monotonic() when the reader got it
    key: bytes
    value: bytes
    partition: int
    offset: int


class OutputWatcher(threading.Thread):
    """Reads ``topic`` from the beginning with read_committed and keeps what it sees, when."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True, name=f"watcher-{topic}")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                **logging_settings(),
                "group.id": "kstreamy-cluster-watcher",  # never joined or committed
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 100,
                # A new leader can briefly answer a fetch with "offset out of range"; start over
                # rather than skip to the end (old records are told apart by their content).
                "auto.offset.reset": "earliest",
            }
        )
        self._consumer.assign(
            [
                TopicPartition(topic, p, OFFSET_BEGINNING)
                for p in visible_partitions(bootstrap, topic)
            ]
        )

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                batch = self._consumer.consume(500, 0.1)
                now = time.monotonic()
                fresh = [
                    Seen(now, m.key(), m.value(), m.partition(), m.offset())
                    for m in batch
                    if m.error() is None
                ]
                if fresh:
                    with self._lock:
                        self.seen.extend(fresh)
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._stop_event.set()
        if self.ident is not None:  # a test that failed before starting it stops it too
            self.join(30)

    def snapshot(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def first_new(self, since: float, boundary: int, needs: Callable[[Seen], int | None]) -> float:
        """When the first output needing input index ``boundary`` or later became visible after
        ``since`` (0.0 if none yet)."""
        with self._lock:
            seen = list(self.seen)
        for record in seen:
            if record.at < since:
                continue
            index = needs(record)
            if index is not None and index >= boundary:
                return record.at
        return 0.0

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time in [start, end] with no output becoming visible."""
        times = [start] + [r.at for r in self.snapshot() if start < r.at < end] + [end]
        return max(b - a for a, b in itertools.pairwise(times))


def visible_partitions(bootstrap: str, topic: str, timeout: float = 30.0) -> list[int]:
    """The partitions of ``topic``, once the broker asked knows it (right after a topic is
    created, or while a broker restarts, another broker's metadata may lack it for a moment)."""

    def ask() -> list[int] | None:
        try:
            return partitions_of(bootstrap, topic)
        except KStreamyError:
            return None

    return wait_until(ask, timeout, interval=0.2, what=f"topic {topic} in the metadata")


def read_committed_all(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Seen]:
    """Everything committed in ``topic`` now: each partition read with read_committed until the
    broker says it is at the end (a fetch-based end, not ListOffsets)."""
    partitions = visible_partitions(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            **logging_settings(),
            "group.id": "kstreamy-cluster-reader",  # never joined or committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records: list[Seen] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"{topic}: end not reached within {timeout}s"
            for m in consumer.consume(1000, 0.2):
                error = m.error()
                if error is None:
                    seen = Seen(time.monotonic(), m.key(), m.value(), m.partition(), m.offset())
                    records.append(seen)
                    at_end.discard(m.partition())
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
    finally:
        consumer.close()
    return records


@dataclass
class FlowPipeline:
    """One application shape with its input, the lowest input index each output needs, and the
    offline expectation of its output."""

    name: str
    app_module: str
    rate: float
    """Input records per second."""
    make: Callable[[int], Record]
    needs: Callable[[Seen], int | None]
    """The lowest input index an output record needs (None: not a result, e.g. a flush)."""
    complete: Callable[[list[Seen], int], bool]
    problems: Callable[[list[Seen], int], list[str]]
    """Differences between the output and the offline expectation for ``total`` inputs."""
    app_params: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[str, str], None] = lambda bootstrap, topic: None
    """After the last input: whatever makes every result final (e.g. watermark flushes)."""


# -- a count after a repartition ------------------------------------------------------------

USERS = [f"u{i}" for i in range(7)]
INPUT_KEYS = [f"k{i:02d}" for i in range(40)]


def _count_record(n: int) -> Record:
    value = {"n": n, "user": USERS[n % len(USERS)]}
    return INPUT_KEYS[n % len(INPUT_KEYS)].encode(), json.dumps(value).encode()


def _count_needs(record: Seen) -> int:
    count = int.from_bytes(record.value, "big", signed=True)
    return (count - 1) * len(USERS) + USERS.index(record.key.decode())


def _count_problems(records: list[Seen], total: int) -> list[str]:
    """Every count update of every user exactly once and in order: 1, 2, ..., n."""
    per_user: dict[str, list[int]] = defaultdict(list)
    for record in records:
        per_user[record.key.decode()].append(int.from_bytes(record.value, "big", signed=True))
    return count_update_problems(per_user, Counter(USERS[n % len(USERS)] for n in range(total)))


def count_update_problems(per_key: dict[str, list[int]], want: Mapping[str, int]) -> list[str]:
    """Each key's count updates must be exactly 1, 2, ..., ``want[key]``, in order: what
    differs, in words (repeated and missing counts say whether records were applied twice or
    lost)."""
    problems = []
    for key in sorted(set(want) | set(per_key)):
        got, expected = per_key.get(key, []), list(range(1, want.get(key, 0) + 1))
        if got != expected:
            dupes = [c for c, k in Counter(got).items() if k > 1]
            missing = sorted(set(expected) - set(got))
            problems.append(
                f"{key}: {len(got)} updates for {len(expected)} inputs, repeated {dupes[:10]}, "
                f"missing {missing[:10]}, in order {got == sorted(got)}"
            )
    return problems


COUNT = FlowPipeline(
    name="regrouped-count",
    app_module="regroup_count_app",
    rate=100.0,
    make=_count_record,
    needs=_count_needs,
    complete=lambda records, total: len(records) >= total,
    problems=_count_problems,
)


# -- a windowed aggregation after a repartition, emitted when final -------------------------

SENSORS = [f"s{i:02d}" for i in range(12)]
REGIONS = ["north", "south", "west"]
START = float(int(time.time()) // 3600 * 3600)
"""Event times start at the current hour: records written with event times older than a topic's
retention (7 days by default) are deleted by the broker at its next retention check, whether
read or not, which would pull records out from under the test (repartition topics included)."""
STEP = 0.25
"""Event-time seconds between consecutive inputs: at 100 inputs/s, 25 s of event time pass each
second, so every region closes a 10 s window about every 0.4 s."""
OOO = 4.0
LATENESS = (0.0, 0.5, 1.0, 1.75, 0.25)
WINDOW_MS = 10_000


def _window_value(n: int) -> tuple[str, dict[str, Any]]:
    sensor = SENSORS[n % len(SENSORS)]
    ts = START + n * STEP - LATENESS[n % len(LATENESS)]  # out of order, within OOO
    return sensor, {"ts": ts, "v": n % 7, "region": REGIONS[int(sensor[1:]) % len(REGIONS)]}


def _window_record(n: int) -> Record:
    sensor, value = _window_value(n)
    return sensor.encode(), json.dumps(value).encode()


def _window_of(record: Seen) -> tuple[str, int] | None:
    key = json.loads(record.key)
    if key["key"] == "flush":
        return None
    return key["key"], int(key["start_ms"])


def _window_needs(record: Seen) -> int | None:
    """A window closes once the watermark (max event time - OOO) reaches its end, so it needs an
    input with ts >= end + OOO; input n has ts <= START + n * STEP."""
    window = _window_of(record)
    if window is None:
        return None
    end_s = (window[1] + WINDOW_MS) / 1000
    return max(0, math.ceil((end_s + OOO - START) / STEP - 1e-9))


def window_expectation(total: int) -> dict[tuple[str, int], dict[str, int]]:
    windows: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"n": 0, "sum": 0})
    for n in range(total):
        _, value = _window_value(n)
        start_ms = round(value["ts"] * 1000) // WINDOW_MS * WINDOW_MS
        windows[(value["region"], start_ms)]["n"] += 1
        windows[(value["region"], start_ms)]["sum"] += value["v"]
    return dict(windows)


def _window_results(records: list[Seen]) -> list[tuple[tuple[str, int], dict]]:
    results = []
    for record in records:
        window = _window_of(record)
        if window is not None:
            results.append((window, json.loads(record.value)))
    return results


def _window_complete(records: list[Seen], total: int) -> bool:
    return {w for w, _ in _window_results(records)} >= set(window_expectation(total))


def _window_problems(records: list[Seen], total: int) -> list[str]:
    """Every window exactly once, with the value computed offline."""
    want = window_expectation(total)
    got: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for window, value in _window_results(records):
        got[window].append(value)
    problems = [f"{w}: emitted {len(v)} times: {v}" for w, v in got.items() if len(v) > 1]
    problems += [f"{w}: missing (want {v})" for w, v in want.items() if w not in got]
    problems += [f"{w}: {got[w][0]} != {v}" for w, v in want.items() if w in got and got[w][0] != v]
    problems += [f"{w}: unexpected {v}" for w, v in got.items() if w not in want]
    return sorted(problems)


def _flush_windows(bootstrap: str, topic: str) -> None:
    """One far-future record per input partition moves every watermark past the last window;
    its own window ("flush") stays open."""
    value = {"ts": START + 10**6, "v": 0, "region": "flush"}
    for partition in visible_partitions(bootstrap, topic):
        produce(bootstrap, topic, [(b"flush", json.dumps(value).encode())], partition=partition)


WINDOWED = FlowPipeline(
    name="regrouped-windows",
    app_module="windowed_app",
    rate=100.0,
    make=_window_record,
    needs=_window_needs,
    complete=_window_complete,
    problems=_window_problems,
    app_params={"by": "region", "ooo": OOO},
    finish=_flush_windows,
)

PIPELINES = {p.name: p for p in (COUNT, WINDOWED)}
