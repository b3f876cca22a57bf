"""Spans of sampled records, and the W3C trace context they carry through record headers.

A span per record would cost more than most records' processing, so one record in
``sample_every`` gets a span (the first of an instance's life, then every ``sample_every``-th).
The records between two sampled ones still run through the task in whole runs, as without
tracing; a sampled record runs on its own, inside its span, so that whatever it produces is
known to be its output.

A sampled record with a ``traceparent`` header continues that trace: its span's parent is the
header's span context (and it links to the batch's process span). Every record the task emits
while a sampled record is processed carries the record span's context in ``traceparent`` (and
``tracestate``) headers, so the trace continues in whoever reads the outputs.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kstreamy.runtime.emitter import Emitter
from kstreamy.runtime.task import Task

RECORD = "kstreamy.record"

_PROPAGATOR = TraceContextTextMapPropagator()
_CONTEXT_HEADERS = frozenset(_PROPAGATOR.fields)
"""``traceparent`` and ``tracestate``: replaced, not duplicated, on outputs."""


class _HeaderGetter(Getter[list[tuple[str, bytes]]]):
    """Reads Kafka record headers (a list of ``(name, bytes)``) for the propagator."""

    def get(self, carrier: list[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [
            value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for name, value in carrier
            if name == key and value is not None
        ]
        return values or None

    def keys(self, carrier: list[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


_GETTER = _HeaderGetter()


def context_from_headers(headers: list[tuple[str, bytes]] | None) -> Context | None:
    """The span context a record's ``traceparent`` header names, or None without a valid one."""
    if not headers:
        return None
    context = _PROPAGATOR.extract(headers, getter=_GETTER)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def headers_for_current_span() -> list[tuple[str, bytes]]:
    """``traceparent`` (and ``tracestate``) headers for the span that is current now."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(name, value.encode("latin-1")) for name, value in carrier.items()]


class RecordSpans:
    """Runs runs of records through tasks, giving one record in ``sample_every`` a span.

    ``run`` replaces :meth:`Task.process_run` in the instance loop while tracing is on; it also
    notes the ids of the tasks a batch reached, for the batch's process span.
    """

    def __init__(self, tracer: Tracer, sample_every: int) -> None:
        self.tracer = tracer
        self.sample_every = sample_every
        self.task_ids: set[str] = set()
        self.out_headers: list[tuple[str, bytes]] | None = None
        """Trace context headers for outputs while a sampled record is processed, else None."""
        self._until_sample = 0
        """Records to run before the next sampled one (0: the next record is sampled)."""

    def run(
        self,
        task: Task,
        records: list[Any],
        start: int,
        topic: str,
        partition: int,
        one_topic: bool = False,
    ) -> int:
        """:meth:`Task.process_run`'s contract: run ``topic[partition]``'s records from
        ``records[start]`` on, up to the first record of another partition or an error event;
        return the index after the run."""
        self.task_ids.add(task.id)
        if self.sample_every <= 0:
            return task.process_run(records, start, topic, partition, one_topic)
        count = len(records)
        while start < count:
            gap = self._until_sample
            if gap:
                stop = start + gap
                if stop >= count:
                    end = task.process_run(records, start, topic, partition, one_topic)
                else:  # only up to the sampled record: a copy of at most sample_every records
                    window = records[start:stop]
                    end = start + task.process_run(window, 0, topic, partition, one_topic)
                self._until_sample -= end - start
                if end < stop:
                    return end  # the run ended before the next sampled record
                start = end
                continue
            record = records[start]
            if (
                record.error() is not None
                or record.partition() != partition
                or record.topic() != topic
            ):
                return start
            self._sampled(task, record, topic, partition)
            self._until_sample = self.sample_every - 1
            start += 1
        return start

    def _sampled(self, task: Task, record: Any, topic: str, partition: int) -> None:
        """Process one record inside its own span; its outputs carry the span's context."""
        batch = trace.get_current_span().get_span_context()
        parent = context_from_headers(record.headers())
        attributes = {
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": record.offset(),
            "kstreamy.task.id": task.id,
        }
        with self.tracer.start_as_current_span(
            RECORD,
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=[Link(batch)] if parent is not None and batch.is_valid else None,
        ):
            self.out_headers = headers_for_current_span()
            try:
                task.process_run([record], 0, topic, partition, True)
            finally:
                self.out_headers = None


class TraceContextEmitter:
    """A task's emitter while tracing is on: outputs of a sampled record get its context.

    Sinks call an emitter's ``produce`` (the Kafka producer's own method) when it has one, so
    this one offers a ``produce`` too when the emitter it wraps does: one Python call more per
    output than without tracing, the least a per-record decision can cost. ``partition`` -1 is
    the producer's own partitioner (confluent-kafka's default); sinks of windowed keys pass one.
    """

    def __init__(self, emitter: Emitter, records: RecordSpans) -> None:
        self._emitter = emitter
        self._records = records
        produce = getattr(emitter, "produce", None)
        if produce is not None:

            def produce_with_context(
                topic: str,
                value: bytes | None,
                key: bytes | None,
                timestamp: int,
                partition: int = -1,
            ) -> None:
                extra = records.out_headers
                if partition < 0:
                    if extra is None:
                        produce(topic, value, key, timestamp=timestamp)
                    else:
                        produce(topic, value, key, timestamp=timestamp, headers=extra)
                elif extra is None:
                    produce(topic, value, key, partition=partition, timestamp=timestamp)
                else:
                    produce(
                        topic, value, key, partition=partition, timestamp=timestamp, headers=extra
                    )

            self.produce = produce_with_context

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        extra = self._records.out_headers
        if extra is not None:
            kept = [h for h in headers or () if h[0] not in _CONTEXT_HEADERS]
            headers = kept + extra
        self._emitter.emit(topic, key, value, timestamp_ms, headers, partition)
