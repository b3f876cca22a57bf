"""Per-record cost of a task's whole path, in this process, without a broker.

    python bench/task_path.py [--events 200000] [--rounds 5]

Feeds raw records (bytes, as the consumer hands them over) to ``Task.process_run`` in runs of one
partition, as the instance loop does: deserialization, the compiled graph, serialization and the
hand-over to a producer that drops records. Next to it, the same work written by hand (orjson,
the same functions): the difference is what the library costs per record, apart from Kafka.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from kstreamy import App
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task import Task
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.state.task_state import TaskState


class _DropEmitter:
    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        pass


class _Record:
    __slots__ = ("_key", "_offset", "_value")

    def __init__(self, offset: int, key: bytes, value: bytes) -> None:
        self._offset, self._key, self._value = offset, key, value

    def topic(self) -> str:
        return "in"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1700000000000)

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def error(self) -> None:
        return None


def keep(key: Any, event: dict) -> bool:
    return event["value"] is not None


def enrich(event: dict) -> dict:
    return {**event, "fahrenheit": event["value"] * 9 / 5 + 32}


def stateless_app() -> App:
    app = App("task-path-stateless")
    app.stream("in", value_serde="json").filter(keep).map_values(enrich).to("out")
    return app


def count_app() -> App:
    app = App("task-path-count")
    app.stream("in", key_serde="str", value_serde="json").group_by_key().count(store="c").to(
        "out", value_serde="int"
    )
    return app


def task_of(app: App) -> Task:
    (sub,) = app.topology.subtopologies()
    specs = {name: app.topology.stores[name] for name in sub.store_names}
    emitter = _DropEmitter()
    errors = RecordErrorHandler("fail", "fail", "dlq", emitter, Metrics())
    state = None
    if specs:
        stores = {name: InMemoryStore(name) for name in specs}
        state = TaskState(0, specs, app.application_id, stores, None)
    task = Task(sub, 0, emitter, errors, specs or None, state)
    task.open()
    return task


def time_task(task: Task, records: list[_Record]) -> float:
    started = time.perf_counter()
    for start in range(0, len(records), 2000):  # one partition's batch, as consume() gives it
        task.process_run(records[start : start + 2000], 0, "in", 0)
        if task.state is not None:
            task.state.apply()
    return (time.perf_counter() - started) / len(records) * 1e6


def time_by_hand(records: list[_Record]) -> float:
    loads, dumps, produce = orjson.loads, orjson.dumps, _DropEmitter().emit
    started = time.perf_counter()
    for record in records:
        event = loads(record.value())
        if keep(record.key(), event):
            produce("out", record.key(), dumps(enrich(event)), record.timestamp()[1])
    return (time.perf_counter() - started) / len(records) * 1e6


def time_count_by_hand(records: list[_Record]) -> float:
    loads, produce, counts = orjson.loads, _DropEmitter().emit, {}
    started = time.perf_counter()
    for record in records:
        key = record.key().decode()
        loads(record.value())
        counts[key] = total = counts.get(key, 0) + 1
        produce("out", key.encode(), total.to_bytes(8, "big"), record.timestamp()[1])
    return (time.perf_counter() - started) / len(records) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    records = []
    for i in range(args.events):
        value = None if i % 20 == 0 else round(i % 65 - 20.5, 2)
        event = {"id": i, "sensor": f"sensor-{i % 1000}", "value": value, "ts": 1700000000 + i}
        records.append(_Record(i, f"sensor-{i % 1000}".encode(), orjson.dumps(event)))
    # The input stays alive all along: out of the collector's way, so that full collections
    # (which would walk it) add no noise to either side.
    gc.freeze()
    sides = {
        "stateless: kstreamy task": lambda: time_task(task_of(stateless_app()), records),
        "stateless: by hand": lambda: time_by_hand(records),
        "count: kstreamy task": lambda: time_task(task_of(count_app()), records),
        "count: by hand (dict)": lambda: time_count_by_hand(records),
    }
    timings: dict[str, list[float]] = {label: [] for label in sides}
    for round_ in range(args.rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for label in order:
            timings[label].append(sides[label]())
    # The fastest round is the least disturbed one: on a shared machine the median moves with
    # the neighbours, the minimum much less.
    print(f"{args.rounds} rounds, {args.events} records each, us per record (median, fastest):")
    for label, values in timings.items():
        print(f"  {label:<28} {statistics.median(values):>6.2f} {min(values):>6.2f}")


if __name__ == "__main__":
    main()
