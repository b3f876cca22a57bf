"""A stateful pipeline with a repartition, its topics, instances, command line and expected
results, for savepoint, reset and rescaling tests.

Pipelines are listed in :data:`PIPELINES` so a test runs on each with one parametrization:
"aggregate" (counts and sums per key, counts per bucket after a repartition) and "windowed"
(tumbling event-time windows emitted when final, and event-time timers).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from kstreamy.serde import IntSerde
from kstreamy.testing.topics import produce, read_all, read_topic
from tests_support.app_cli import app_env, kstreamy
from tests_support.waiting import wait_until

KEYS = [f"key-{i:03d}" for i in range(30)]
Expected = dict[str, dict[str, Any]]


def events(start: int, stop: int):
    for n in range(start, stop):
        yield KEYS[n % len(KEYS)].encode(), json.dumps({"n": n}).encode()


def aggregate_expectation(numbers: range | list[int], factor: int = 1) -> Expected:
    """Output topic role -> key -> latest value, computed offline."""
    sums: Counter[str] = Counter()
    for n in numbers:
        sums[KEYS[n % len(KEYS)]] += n * factor
    return {
        "counts": dict(Counter(KEYS[n % len(KEYS)] for n in numbers)),
        "sums": dict(sums),
        "buckets": dict(Counter(f"b{n % 7}" for n in numbers)),
    }


class Closed(dict):
    """Results emitted once, when their window closes (or timer fires): the ones certain to be
    out by now, and in :attr:`maybe` those that may or may not be, because which window is
    closed depends on how far each partition's event time got, which depends on which keys a
    partition holds."""

    def __init__(self, certain: dict[str, Any], maybe: dict[str, Any]) -> None:
        super().__init__(certain)
        self.maybe = maybe

    def matches(self, latest: dict[str, Any]) -> bool:
        return all(latest.get(k, _MISSING) == v for k, v in self.items()) and all(
            k in self or self.maybe.get(k, _MISSING) == v for k, v in latest.items()
        )

    def allows(self, key: str, value: Any) -> bool:
        return self.get(key, self.maybe.get(key, _MISSING)) == value


_MISSING = object()
WINDOW_S = 10
REMIND_AFTER_S = 25


def windowed_expectation(numbers: range) -> Expected:
    """What tests/apps/savepoint_windowed_app.py writes for events ``numbers`` (0 to n).

    Event ``n`` happens at second ``n // 30``. A partition's watermark is its last event's
    second: at least that of event ``total - 30`` (every key has an event among the last 30),
    at most that of the last event. A window closes when the watermark reaches its end; a
    timer fires when the watermark passes it.
    """
    assert numbers.start == 0 and numbers.step == 1, "the windowed pipeline reads from 0"
    total = numbers.stop
    per_second = len(KEYS)
    lowest, highest = (max(total - per_second, 0)) // per_second, (total - 1) // per_second
    windows: dict[str, dict[str, int]] = {}
    window_end: dict[str, int] = {}
    timers: dict[str, int] = {}
    for n in numbers:
        key, second = KEYS[n % per_second], n // per_second
        start = second - second % WINDOW_S
        label = f"{key}@{start * 1000}"
        acc = windows.setdefault(label, {"count": 0, "sum": 0})
        acc["count"] += 1
        acc["sum"] += n
        window_end[label] = start + WINDOW_S
        if second % WINDOW_S == 0:
            at = second + REMIND_AFTER_S
            timers[f"{key}@{at * 1000}"] = at
    return {
        "windows": Closed(
            {k: v for k, v in windows.items() if window_end[k] <= lowest},
            {k: v for k, v in windows.items() if lowest < window_end[k] <= highest},
        ),
        "timers": Closed(
            {k: {"at_ms": at * 1000} for k, at in timers.items() if at < lowest},
            {k: {"at_ms": at * 1000} for k, at in timers.items() if lowest <= at < highest},
        ),
    }


@dataclasses.dataclass
class PipelineKind:
    module: str
    expectation: Callable[..., Expected]
    decoders: dict[str, Callable[[bytes], Any]]
    subtopologies: int
    emits_once: bool = False
    """Every result is final and written once (unless input is processed again)."""


PIPELINES = {
    "aggregate": PipelineKind(
        "savepoint_app",
        aggregate_expectation,
        {"counts": IntSerde().deserialize, "sums": json.loads, "buckets": IntSerde().deserialize},
        subtopologies=2,
    ),
    "windowed": PipelineKind(
        "savepoint_windowed_app",
        windowed_expectation,
        {"windows": json.loads, "timers": json.loads},
        subtopologies=1,
        emits_once=True,
    ),
}


class Pipeline:
    def __init__(
        self,
        kind: PipelineKind,
        bootstrap: str,
        make_topic,
        unique_name,
        instances,
        tmp_path: Path,
        partitions: int = 4,
        **settings: Any,
    ) -> None:
        self.kind = kind
        self.bootstrap = bootstrap
        self.topics = {
            "input": make_topic("in", partitions),
            **{role: make_topic(role, partitions) for role in kind.decoders},
        }
        self.app_id = unique_name("sp")
        self.instances = instances
        self.tmp_path = tmp_path
        self.settings = {**self.topics, **settings}

    @property
    def input(self) -> str:
        return self.topics["input"]

    def start(self, name: str, state_dir: Path | None = None, **overrides: Any):
        return self.instances.start(
            self.kind.module,
            self.app_id,
            name=name,
            state_dir=state_dir,
            **{**self.settings, **overrides},
        )

    def cli(self, *args: str, **overrides: Any):
        """``kstreamy savepoint <cmd> app ...`` or ``kstreamy <cmd> app ...``."""
        settings = {**self.settings, **overrides}
        env = app_env(self.bootstrap, self.app_id, self.tmp_path / "cli-state", **settings)
        spec = f"{self.kind.module}:build_app"
        if args[0] == "savepoint":
            return kstreamy(env, "savepoint", args[1], spec, *args[2:])
        return kstreamy(env, args[0], spec, *args[1:])

    def mark(self) -> dict[tuple[str, int], int]:
        """End offsets of the output topics."""
        ends: dict[tuple[str, int], int] = {}
        for role in self.kind.decoders:
            for record in read_all(self.bootstrap, self.topics[role]):
                key = (record.topic(), record.partition())
                ends[key] = max(ends.get(key, 0), record.offset() + 1)
        return ends

    def results(
        self, since: dict[tuple[str, int], int] | None = None, timeout: float = 0
    ) -> Expected:
        """Latest value per key of each output written after ``since``."""
        out: Expected = {}
        for role, decode in self.kind.decoders.items():
            latest = {}
            for record in read_all(self.bootstrap, self.topics[role]):
                if since and record.offset() < since.get((record.topic(), record.partition()), 0):
                    continue
                latest[record.key().decode()] = decode(record.value())
            out[role] = latest
        return out

    def wait_results(
        self, expected: Expected, since: dict[tuple[str, int], int] | None = None, timeout=120
    ) -> None:
        """Every key's latest output (written after ``since``) equals the expectation.

        Results emitted once (:class:`Closed`) are not written again after ``since`` when they
        were out before: for them, the latest output of the whole topic must match, and every
        record written after ``since`` must carry its key's expected value."""
        deadline = time.monotonic() + timeout
        for role, want in expected.items():
            topic, decode = self.topics[role], self.kind.decoders[role]

            def done(records, want=want, decode=decode) -> bool:
                latest = {}
                for r in records:
                    after = not since or r.offset() >= since.get((r.topic(), r.partition()), 0)
                    if isinstance(want, Closed):
                        key, value = r.key().decode(), decode(r.value())
                        if after and not want.allows(key, value):
                            return False
                        latest[key] = value
                    elif after:
                        latest[r.key().decode()] = decode(r.value())
                return want.matches(latest) if isinstance(want, Closed) else latest == want

            records = read_topic(
                self.bootstrap, topic, done, timeout=max(1.0, deadline - time.monotonic())
            )
            if not done(records):
                got = self.results(None if isinstance(want, Closed) else since).get(role, {})
                raise AssertionError(f"{role}: {_difference(got, want)}")

    def assert_each_result_once(self) -> None:
        """No output key was written twice (for pipelines whose results are final)."""
        for role in self.kind.decoders:
            seen = Counter(r.key().decode() for r in read_all(self.bootstrap, self.topics[role]))
            twice = sorted(k for k, n in seen.items() if n > 1)
            assert not twice, (role, twice[:10], len(twice))

    def group_offsets(self) -> dict[tuple[str, int], int]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        request = ConsumerGroupTopicPartitions(self.app_id)
        result = admin.list_consumer_group_offsets([request])[self.app_id].result(30)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []}


def _difference(got: dict[str, Any], want: dict[str, Any]) -> str:
    """The first few keys that differ, rather than two whole outputs."""
    maybe = want.maybe if isinstance(want, Closed) else {}
    wrong = [
        f"{k}: {got.get(k, 'missing')!r} instead of {v!r}"
        for k, v in sorted(want.items())
        if got.get(k, _MISSING) != v
    ]
    wrong += [
        f"{k}: {v!r} unexpected" for k, v in sorted(got.items()) if k not in want and k not in maybe
    ]
    wrong += [f"{k}: {v!r} instead of {maybe[k]!r}" for k, v in got.items() if maybe.get(k, v) != v]
    return f"{len(wrong)} differences: " + "; ".join(wrong[:10])


class PacedFeeder:
    """Produce events in small chunks from a thread until stopped, so that a savepoint lands
    mid-stream; :meth:`stop` returns the number after the last event produced."""

    def __init__(self, bootstrap: str, topic: str, start: int, chunk: int = 20) -> None:
        self.next = start
        self._stopped = threading.Event()

        def feed() -> None:
            while not self._stopped.is_set():
                produce(bootstrap, topic, events(self.next, self.next + chunk))
                self.next += chunk
                self._stopped.wait(0.05)  # pacing the input, not waiting for a condition

        self._thread = threading.Thread(target=feed, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stopped.set()
        self._thread.join(60)
        return self.next


def stop_instance(instance) -> None:
    instance.terminate()
    assert instance.wait_exit(60) == 0, instance.log()[-3000:]


def owned(*instances) -> set[str]:
    """The tasks the instances own, from their status files."""
    return set().union(*(i.partitions() for i in instances))


def wait_settled(*instances, tasks: int | None = None) -> None:
    """Every instance runs and owns tasks (and, given ``tasks``, that many are owned in all):
    the group settled. Generous deadlines: several instances start at once on a small, busy
    machine."""
    for instance in instances:
        instance.wait_running(120)
    wait_until(
        lambda: (
            all(i.partitions() for i in instances)
            and (tasks is None or len(owned(*instances)) == tasks)
        ),
        180,
        what=f"every instance owns tasks ({tasks or 'any'} owned in all)",
    )
