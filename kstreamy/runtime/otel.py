"""OpenTelemetry spans of a running instance: poll, process, commit and restore.

Imported only with ``tracing=True`` (see :mod:`kstreamy.runtime.tracing`); importing it without
the ``otel`` extra raises ImportError, which the caller turns into a ConfigError.

Spans come from ``tracer_provider.get_tracer("kstreamy")``, by default OpenTelemetry's global
provider: kstreamy sets up no exporter, as instrumented libraries do not. Which records get a
span of their own, and how the trace context travels in record headers, is
:mod:`kstreamy.runtime.otel_records`' job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from kstreamy.runtime.otel_records import RecordSpans, TraceContextEmitter

if TYPE_CHECKING:
    from kstreamy.runtime.commit_sequence import CommitResult
    from kstreamy.runtime.emitter import Emitter
    from kstreamy.runtime.tracing import Consume, ProcessBatch

TRACER_NAME = "kstreamy"

POLL = "kstreamy.poll"
PROCESS = "kstreamy.process"
COMMIT = "kstreamy.commit"
RESTORE = "kstreamy.restore"

BATCH_COUNT = "messaging.batch.message_count"
TASK_IDS = "kstreamy.task.ids"
TASK_ID = "kstreamy.task.id"


class OtelTracing:
    """The :class:`~kstreamy.runtime.tracing.Tracing` hooks that make spans."""

    def __init__(self, sample_every: int, tracer_provider: Any = None) -> None:
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = provider.get_tracer(TRACER_NAME)
        self.records = RecordSpans(self.tracer, sample_every)
        self.run_records = self.records.run
        self._restores: dict[str, Span] = {}

    def consume(self, consume: Consume) -> Consume:
        """A poll span for each call that returned records; empty polls of an idle loop would
        only bury the spans that matter."""
        tracer = self.tracer

        def traced_consume(num_messages: int, timeout: float) -> list[Any]:
            started = time.time_ns()
            messages = consume(num_messages, timeout)
            if messages:
                span = tracer.start_span(
                    POLL,
                    kind=SpanKind.CONSUMER,
                    start_time=started,
                    attributes={"messaging.system": "kafka", BATCH_COUNT: len(messages)},
                )
                span.end()
            return messages

        return traced_consume

    def process(self, process: ProcessBatch) -> ProcessBatch:
        """One span per batch; the sampled records' spans are its children (unless a record
        names a parent of its own in its ``traceparent`` header)."""
        tracer = self.tracer
        records = self.records

        def traced_process(messages: list[Any], one_topic: bool = False) -> int:
            if not messages:
                return process(messages, one_topic)
            records.task_ids.clear()
            with tracer.start_as_current_span(
                PROCESS, attributes={BATCH_COUNT: len(messages)}
            ) as span:
                try:
                    return process(messages, one_topic)
                finally:
                    span.set_attribute(TASK_IDS, sorted(records.task_ids))

        return traced_process

    def emitter(self, emitter: Emitter) -> Emitter:
        return TraceContextEmitter(emitter, self.records)

    def commit(
        self, run: Callable[[], CommitResult], exactly_once: bool, tasks: int
    ) -> CommitResult:
        attributes = {
            "kstreamy.commit.guarantee": "exactly_once" if exactly_once else "at_least_once",
            "kstreamy.commit.tasks": tasks,
        }
        with self.tracer.start_as_current_span(COMMIT, attributes=attributes) as span:
            result = run()
            span.set_attribute("kstreamy.commit.outcome", result.outcome.value)
            if result.failed_step is not None:
                span.set_attribute("kstreamy.commit.failed_step", result.failed_step)
            if not result.committed:
                if result.error is not None:
                    span.record_exception(result.error)
                span.set_status(Status(StatusCode.ERROR, str(result.error or "")))
            return result

    def restore_started(self, task_id: str, stores: list[str]) -> None:
        self._restores[task_id] = self.tracer.start_span(
            RESTORE, attributes={TASK_ID: task_id, "kstreamy.restore.stores": stores}
        )

    def restore_finished(self, task_id: str, records: int, outcome: str) -> None:
        span = self._restores.pop(task_id, None)
        if span is None:
            return
        span.set_attribute("kstreamy.restore.records", records)
        span.set_attribute("kstreamy.restore.outcome", outcome)
        span.end()
