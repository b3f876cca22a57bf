"""Per-record cost of compiled pipelines, in this process, without a broker.

    python bench/per_record.py [--events 300000] [--rounds 5]

Calls the compiled closures of a sub-topology as a task does, with an emitter that drops what it
gets and in-memory stores, so only the library's own per-record work is timed: no Kafka
client, no commit. Pipelines are compared in pairs that differ in one thing:

- count, then to(): the sink reuses the key bytes the count just wrote to its store, against the
  same pipeline whose sink has its own key serde instance (so it serializes the key again);
- a Processor API step touching three keyed states per record: the key is serialized once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kstreamy import App, ProcessFunction, StrSerde
from kstreamy.runtime.compiler import compile_subtopology
from kstreamy.runtime.context import RecordContext
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.state.transaction import StoreTransaction


class _DropEmitter:
    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        pass


class _MemoryState:
    """Just what compiled store steps ask of a task's state: one transaction per store."""

    def __init__(self, names: list[str]) -> None:
        self._txns = {n: StoreTransaction(InMemoryStore(n), None, 0) for n in names}

    def transaction(self, name: str) -> StoreTransaction:
        return self._txns[name]


def compiled_entry(app: App) -> Callable[[Any, Any], None]:
    (sub,) = app.topology.subtopologies()
    specs = {name: app.topology.stores[name] for name in sub.store_names}
    compiled = compile_subtopology(
        sub, RecordContext(), _DropEmitter(), specs, _MemoryState(sub.store_names)
    )
    for hook in compiled.on_open:
        hook()
    (entry,) = compiled.entries.values()
    return entry


def count_app(own_sink_serde: bool) -> App:
    app = App("per-record-count")
    counts = app.stream("in", key_serde="str", value_serde="json").group_by_key().count(store="c")
    counts.to("out", key_serde=StrSerde() if own_sink_serde else None, value_serde="int")
    return app


class ThreeStates(ProcessFunction):
    def process(self, key, value, ctx) -> None:
        seen = ctx.value_state("s", "seen")
        seen.set((seen.get() or 0) + 1)
        ctx.value_state("s", "last").set(value)
        ctx.map_state("s", "by-sensor").put("n", 1)


def process_app() -> App:
    app = App("per-record-process")
    app.stream("in", key_serde="str", value_serde="json").process(
        ThreeStates(), stores=["s"], name="three-states"
    ).to("out")
    return app


def time_pipeline(entry: Callable[[Any, Any], None], keys: list[str]) -> float:
    """Nanoseconds per record; keys are new str objects, as deserialized records carry."""
    value = {"value": 1.5}
    started = time.perf_counter()
    for key in keys:
        entry(key, value)
    return (time.perf_counter() - started) / len(keys) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    keys = [f"sensor-{i % 1000}".encode().decode() for i in range(args.events)]
    pipelines = {
        "count -> to (key bytes reused)": lambda: compiled_entry(count_app(False)),
        "count -> to (sink serializes)": lambda: compiled_entry(count_app(True)),
        "process, 3 keyed states": lambda: compiled_entry(process_app()),
    }
    timings: dict[str, list[float]] = {label: [] for label in pipelines}
    for round_ in range(args.rounds):
        order = list(pipelines) if round_ % 2 == 0 else list(reversed(pipelines))
        for label in order:
            timings[label].append(time_pipeline(pipelines[label](), keys))
    print(f"median of {args.rounds} rounds, {args.events} records each:")
    for label, values in timings.items():
        print(f"  {label:<34} {statistics.median(values):>8.0f} ns/record")


if __name__ == "__main__":
    main()
