"""A task: one partition number of one sub-topology, with its compiled processors.

The task is the unit the runtime assigns, commits and (later) keeps state for. It receives raw
records, deserializes them with the source's serdes and pushes them through the compiled graph;
every failure on the way is routed through the record error policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kstreamy.errors import RecordError
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.emitter import Emitter
from kstreamy.runtime.processors import compile_subtopology
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.task_state import TaskState
from kstreamy.serde_binding import bound_deserializers
from kstreamy.topology import StoreSpec, SubTopology


class RawRecord(Protocol):
    """The accessors of ``confluent_kafka.Message`` that a task reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...


class _Source:
    __slots__ = ("deserialize_key", "deserialize_value", "entry", "timestamp")

    def __init__(
        self,
        deserialize_key: Callable[[bytes | None], Any],
        deserialize_value: Callable[[bytes | None], Any],
        timestamp: Callable[[Any, Any, float], float] | None,
        entry: Callable[[Any, Any], None],
    ) -> None:
        self.deserialize_key = deserialize_key
        self.deserialize_value = deserialize_value
        self.timestamp = timestamp
        self.entry = entry


def task_id(subtopology: int, partition: int) -> str:
    return f"{subtopology}_{partition}"


class Task:
    def __init__(
        self,
        sub: SubTopology,
        partition: int,
        emitter: Emitter,
        errors: RecordErrorHandler,
        stores: dict[str, StoreSpec] | None = None,
        state: TaskState | None = None,
    ) -> None:
        self.id = task_id(sub.id, partition)
        self.subtopology = sub
        self.partition = partition
        self.ctx = RecordContext()
        self.state = state
        self._errors = errors
        self._opened = False
        compiled = compile_subtopology(sub, self.ctx, emitter, stores, state)
        self._on_open = compiled.on_open
        self._on_close = compiled.on_close
        entries = compiled.entries
        self.positions: dict[str, int] = {}
        """Next offset to consume per input topic: what a commit of this task records."""
        self._sources: dict[str, _Source] = {}
        for node in sub.nodes:
            if node.kind != "source":
                continue
            source = _Source(
                *bound_deserializers(node.params, node.params["topics"][0]),
                node.params.get("timestamp"),
                entries[node.name],
            )
            for topic in node.params["topics"]:
                self._sources[topic] = source

    def open(self) -> None:
        """Called once the task's stores are restored, before its first record."""
        if not self._opened:
            self._opened = True
            for hook in self._on_open:
                hook()

    def close(self) -> None:
        """Run close hooks and close the stores (their checkpoint is the caller's business)."""
        if self._opened:
            self._opened = False
            for hook in self._on_close:
                hook()
        if self.state is not None:
            self.state.close()

    def process(self, record: RawRecord, topic: str) -> None:
        """Run one input record (read from ``topic``) through the graph.

        Errors follow the configured policy. This is the per-record hot path: it reads from the
        record only what every record needs.
        """
        ctx = self.ctx
        ctx.record = record
        ctx.timestamp_ms = record.timestamp()[1]
        source = self._sources[topic]
        raw_key = record.key()
        raw_value = record.value()
        try:
            key = source.deserialize_key(raw_key)
        except Exception as exc:
            self._errors.handle("deserialization", "key", exc, ctx, raw_key, raw_value)
        else:
            try:
                value = source.deserialize_value(raw_value)
            except Exception as exc:
                self._errors.handle("deserialization", "value", exc, ctx, raw_key, raw_value)
            else:
                try:
                    if source.timestamp is not None:
                        seconds = source.timestamp(key, value, ctx.timestamp_ms / 1000)
                        ctx.timestamp_ms = int(seconds * 1000)
                    source.entry(key, value)
                except RecordError:
                    raise
                except Exception as exc:
                    self._errors.handle("processing", None, exc, ctx, raw_key, raw_value)
        # Reached only when the record is done with (processed, skipped or dead-lettered).
        self.positions[topic] = record.offset() + 1
