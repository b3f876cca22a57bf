"""Tracing hooks of the runtime, and the implementation used when tracing is off.

The runtime asks a :class:`Tracing` for its hooks once, when it starts (and again when it
builds new clients), never per batch or per record: each hook *wraps* the function the runtime
would call anyway and, when tracing is off, returns that very function. So with tracing off the
instance loop runs the same calls as without any tracing support, and pays at most one
attribute read per batch (the function that runs a run of records, which is
:meth:`Task.process_run <kstreamy.runtime.task.Task.process_run>` itself when off).

With ``tracing=True`` the hooks come from :mod:`kstreamy.runtime.otel`, which needs the
``otel`` extra; :func:`tracing_for` turns its absence into an error at start that says what to
install, rather than an ImportError deep in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from kstreamy.errors import ConfigError
from kstreamy.runtime.task import Task

if TYPE_CHECKING:
    from kstreamy.config import AppConfig
    from kstreamy.runtime.commit_sequence import CommitResult
    from kstreamy.runtime.emitter import Emitter

Consume = Callable[[int, float], list[Any]]
"""``consumer.consume(num_messages, timeout)``."""
ProcessBatch = Callable[..., int]
"""The loop's ``_process(messages, one_topic)``: returns how many records it handled."""
RunRecords = Callable[..., int]
"""``(task, records, start, topic, partition, one_topic) -> end``, as Task.process_run."""

MISSING_PACKAGE = (
    "tracing=True needs OpenTelemetry: pip install 'kstreamy[otel]' "
    "(or opentelemetry-api and opentelemetry-sdk)"
)


class Tracing(Protocol):
    """What the runtime asks of tracing; every method is called at start or once per commit
    or restoration, so none of them sits on the per-record path."""

    run_records: RunRecords
    """Runs a run of records of one partition through a task (Task.process_run when off)."""

    def consume(self, consume: Consume) -> Consume:
        """Wrap a consumer's ``consume`` (the poll span)."""
        ...

    def process(self, process: ProcessBatch) -> ProcessBatch:
        """Wrap the handling of one polled batch (the process span)."""
        ...

    def emitter(self, emitter: Emitter) -> Emitter:
        """The emitter a task writes through (outputs carry the trace context)."""
        ...

    def commit(
        self, run: Callable[[], CommitResult], exactly_once: bool, tasks: int
    ) -> CommitResult:
        """Run one commit (the commit span)."""
        ...

    def restore_started(self, task_id: str, stores: list[str]) -> None:
        """A task started restoring its stores (opens the restore span)."""
        ...

    def restore_finished(self, task_id: str, records: int, outcome: str) -> None:
        """The task's restoration ended: ``restored``, or ``removed`` (the task went away)."""
        ...


class NoTracing:
    """Tracing off: every hook hands back what it was given, so nothing is added anywhere."""

    def __init__(self) -> None:
        # An instance attribute, not a class one, so that it stays the plain function.
        self.run_records: RunRecords = Task.process_run

    def consume(self, consume: Consume) -> Consume:
        return consume

    def process(self, process: ProcessBatch) -> ProcessBatch:
        return process

    def emitter(self, emitter: Emitter) -> Emitter:
        return emitter

    def commit(
        self, run: Callable[[], CommitResult], exactly_once: bool, tasks: int
    ) -> CommitResult:
        return run()

    def restore_started(self, task_id: str, stores: list[str]) -> None:
        pass

    def restore_finished(self, task_id: str, records: int, outcome: str) -> None:
        pass


NO_TRACING = NoTracing()


def tracing_for(config: AppConfig, tracer_provider: Any = None) -> Tracing:
    """The tracing an instance with ``config`` uses.

    Spans go to ``tracer_provider`` when given, else to OpenTelemetry's global provider, which
    the application configures (exporters, sampling, resource) as for any instrumented library.
    Raises ConfigError naming the extra to install when tracing is on and OpenTelemetry is not.
    """
    if not config.tracing:
        return NO_TRACING
    try:
        from kstreamy.runtime.otel import OtelTracing
    except ImportError as exc:
        raise ConfigError(MISSING_PACKAGE) from exc
    return OtelTracing(config.tracing_sample_every, tracer_provider)
