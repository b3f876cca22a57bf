"""OpenTelemetry tracing: which spans a running instance makes, with which attributes, how the
W3C trace context travels from input headers to output headers, and that tracing off adds
nothing (no span, the loop's own functions unwrapped)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from kstreamy import App
from kstreamy.errors import ConfigError
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.commit_sequence import CommitOutcome, CommitResult
from kstreamy.runtime.instance import Instance
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.record_errors import RecordErrorHandler
from kstreamy.runtime.restore import Restorer
from kstreamy.runtime.task import Task
from kstreamy.runtime.tracing import MISSING_PACKAGE, NO_TRACING, NoTracing, tracing_for
from kstreamy.state.state_manager import RestoreSpec
from kstreamy.testing.driver import _DriverRecord

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01".encode()


class Emitted:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, list[tuple[str, bytes]] | None]] = []

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.records.append((topic, value, headers))


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


class Produced(Emitted):
    """Also has the Kafka producer's ``produce``, which sinks call directly when offered."""

    def produce(self, topic, value, key, timestamp, headers=None) -> None:
        self.records.append((topic, value, headers))


def make_instance(
    provider: TracerProvider, partitions: int = 1, producer: bool = False, **settings: Any
) -> tuple[Instance, Emitted]:
    """An instance whose loop routes batches to real tasks of a one-step topology (input
    ``in``, output ``out``), one per partition; no clients, no broker."""
    app = App("tracing", instance_id="i1", **settings)
    app.stream("in").map_values(lambda v: v + b"!").to("out")
    instance = Instance(app.topology, app.config, False, tracer_provider=provider)
    emitted, metrics = Produced() if producer else Emitted(), Metrics()
    errors = RecordErrorHandler("fail", "fail", "dlq", emitted, metrics)
    emitter = instance._tracing.emitter(emitted)
    sub = app.topology.subtopologies()[0]
    routes = {("in", p): Task(sub, p, emitter, errors) for p in range(partitions)}
    instance._tasks = SimpleNamespace(routes=routes)  # type: ignore[assignment]
    return instance, emitted


def rec(offset: int, partition: int = 0, headers: Any = None) -> _DriverRecord:
    return _DriverRecord("in", partition, offset, 1000, b"k", b"v%d" % offset, headers)


def spans(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    return next((v.decode() for k, v in headers or [] if k == name), None)


def test_off_by_default_the_loop_calls_its_own_functions_and_makes_no_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instance, emitted = make_instance(provider)
    assert instance.config.tracing is False
    assert instance._tracing is NO_TRACING
    assert instance._process_batch == instance._process  # not wrapped
    assert instance._run_records is Task.process_run
    consume = [].copy
    assert NoTracing().consume(consume) is consume
    assert NoTracing().emitter(emitted) is emitted  # sinks keep the producer's own produce

    assert instance._process_batch([rec(0), rec(1)], True) == 2
    assert [r[2] for r in emitted.records] == [None, None]
    assert exporter.get_finished_spans() == ()


def test_a_batch_span_and_spans_for_one_record_in_n(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instance, emitted = make_instance(
        provider, partitions=2, producer=True, tracing=True, tracing_sample_every=2
    )
    batch = [rec(0), rec(1), rec(2), rec(3), rec(4), rec(0, partition=1)]
    assert instance._process_batch(batch, True) == 6

    # Every record is processed once, in order, sampled or not.
    assert [r[1] for r in emitted.records] == [b"v0!", b"v1!", b"v2!", b"v3!", b"v4!", b"v0!"]
    routes = instance._tasks.routes  # type: ignore[union-attr]
    assert routes[("in", 0)].positions == {"in": 5}
    assert routes[("in", 1)].positions == {"in": 1}

    (process,) = spans(exporter, "kstreamy.process")
    assert process.attributes is not None
    assert process.attributes["messaging.batch.message_count"] == 6
    assert list(process.attributes["kstreamy.task.ids"]) == ["0_0", "0_1"]
    records = spans(exporter, "kstreamy.record")
    # The first record, then every second one: offsets 0, 2 and 4 of partition 0.
    assert [(s.attributes["messaging.kafka.offset"]) for s in records] == [0, 2, 4]  # type: ignore[index]
    assert {s.attributes["kstreamy.task.id"] for s in records} == {"0_0"}  # type: ignore[index]
    for span in records:
        assert span.parent is not None
        assert span.parent.span_id == process.context.span_id

    # Outputs of sampled records carry their span's context; the others no header at all.
    for (_, _, headers), sampled in zip(
        emitted.records, [True, False, True, False, True, False], strict=True
    ):
        assert (header(headers, "traceparent") is not None) is sampled
    by_offset = {s.attributes["messaging.kafka.offset"]: s for s in records}  # type: ignore[index]
    span_2 = by_offset[2].context
    assert header(emitted.records[2][2], "traceparent").startswith(  # type: ignore[union-attr]
        f"00-{span_2.trace_id:032x}-{span_2.span_id:016x}-"
    )


def test_sampling_counts_across_batches(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instance, _ = make_instance(provider, tracing=True, tracing_sample_every=3)
    instance._process_batch([rec(0), rec(1)], True)
    instance._process_batch([rec(2), rec(3), rec(4)], True)
    offsets = [s.attributes["messaging.kafka.offset"] for s in spans(exporter, "kstreamy.record")]  # type: ignore[index]
    assert offsets == [0, 3]
    assert len(spans(exporter, "kstreamy.process")) == 2


@pytest.mark.parametrize("producer", [False, True], ids=["emit", "produce"])
def test_an_input_traceparent_is_the_parent_and_outputs_continue_its_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter, producer: bool
) -> None:
    instance, emitted = make_instance(
        provider, producer=producer, tracing=True, tracing_sample_every=1
    )
    assert hasattr(instance._tracing.emitter(emitted), "produce") is producer
    stale = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), ("app", b"x")]
    instance._process_batch([rec(0, headers=[("traceparent", TRACEPARENT)])], True)

    (record,) = spans(exporter, "kstreamy.record")
    (process,) = spans(exporter, "kstreamy.process")
    assert f"{record.context.trace_id:032x}" == TRACE_ID
    assert record.parent is not None and f"{record.parent.span_id:016x}" == PARENT_SPAN_ID
    assert [link.context.span_id for link in record.links] == [process.context.span_id]
    out = header(emitted.records[0][2], "traceparent")
    assert out is not None
    assert out.split("-")[1] == TRACE_ID  # the same trace ...
    assert out.split("-")[2] == f"{record.context.span_id:016x}"  # ... continued by our span

    # Records written with headers of their own (late records, dead letters) keep them, with
    # the trace context replaced, not duplicated.
    instance._tracing.records.out_headers = [("traceparent", TRACEPARENT)]  # type: ignore[attr-defined]
    instance._tracing.emitter(emitted).emit("late", None, b"x", 0, stale)
    assert emitted.records[-1][2] == [("app", b"x"), ("traceparent", TRACEPARENT)]


def test_a_record_without_a_valid_traceparent_is_a_child_of_the_batch(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instance, _ = make_instance(provider, tracing=True, tracing_sample_every=1)
    instance._process_batch([rec(0, headers=[("traceparent", b"garbage")])], True)
    (record,) = spans(exporter, "kstreamy.record")
    (process,) = spans(exporter, "kstreamy.process")
    assert record.parent is not None and record.parent.span_id == process.context.span_id
    assert record.links == ()


def test_sample_every_zero_makes_batch_spans_only(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instance, emitted = make_instance(provider, tracing=True, tracing_sample_every=0)
    instance._process_batch([rec(0, headers=[("traceparent", TRACEPARENT)]), rec(1)], True)
    assert spans(exporter, "kstreamy.record") == []
    assert len(spans(exporter, "kstreamy.process")) == 1
    assert [r[2] for r in emitted.records] == [None, None]


def test_a_poll_span_for_each_consume_that_returned_records(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = App("tracing", tracing=True)
    tracing = tracing_for(app.config, provider)
    answers = [[], [rec(0), rec(1)]]
    consume = tracing.consume(lambda num, timeout: answers.pop(0))
    assert consume(10, 0) == []
    assert len(consume(10, 0)) == 2
    (poll,) = spans(exporter, "kstreamy.poll")
    assert poll.attributes is not None
    assert poll.attributes["messaging.batch.message_count"] == 2
    assert poll.start_time is not None and poll.end_time is not None
    assert poll.start_time <= poll.end_time


def test_commit_spans_name_guarantee_tasks_and_outcome(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = tracing_for(App("tracing", tracing=True).config, provider)
    commits = CommitManager(True, Metrics(), tracing)
    clients = SimpleNamespace(flush=lambda: None, transactions=None)
    commits.attach(clients)  # type: ignore[arg-type]
    assert commits.commit([]).outcome is CommitOutcome.COMMITTED
    commits.detach()
    failed = commits.commit([])  # no clients: the flush fails, nothing is committed
    assert failed.outcome is CommitOutcome.NOT_COMMITTED

    ok, bad = spans(exporter, "kstreamy.commit")
    assert ok.attributes is not None and bad.attributes is not None
    assert ok.attributes["kstreamy.commit.guarantee"] == "exactly_once"
    assert ok.attributes["kstreamy.commit.tasks"] == 0
    assert ok.attributes["kstreamy.commit.outcome"] == "committed"
    assert ok.status.status_code is StatusCode.UNSET
    assert bad.attributes["kstreamy.commit.outcome"] == "not_committed"
    assert bad.status.status_code is StatusCode.ERROR
    assert [e.name for e in bad.events] == ["exception"]

    tracing.commit(lambda: CommitResult(CommitOutcome.COMMITTED), False, 3)
    last = spans(exporter, "kstreamy.commit")[-1]
    assert last.attributes is not None
    assert last.attributes["kstreamy.commit.guarantee"] == "at_least_once"
    assert last.attributes["kstreamy.commit.tasks"] == 3


class FakeRestoreConsumer:
    def incremental_assign(self, partitions: Any) -> None:
        pass

    def incremental_unassign(self, partitions: Any) -> None:
        pass


def restoring_task(task_id: str) -> Any:
    state = SimpleNamespace(restored_to=lambda topic, offset: None, write_checkpoint=lambda **_: 0)
    return SimpleNamespace(id=task_id, state=state)


def test_a_restore_span_per_task(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    restorer = Restorer({})
    restorer._consumer = FakeRestoreConsumer()  # type: ignore[assignment]
    restorer.tracing = tracing_for(App("tracing", tracing=True).config, provider)
    plan = [RestoreSpec("counts", "app-counts-changelog", 0, None)]
    restorer.add(restoring_task("0_0"), plan)
    restorer.add(restoring_task("0_1"), [RestoreSpec("counts", "app-counts-changelog", 1, 7)])
    assert spans(exporter, "kstreamy.restore") == []  # open while restoring
    restorer._tasks["0_0"].restored = 42
    restorer._partition_done(("app-counts-changelog", 0), 42)
    restorer.remove("0_1")

    done, removed = spans(exporter, "kstreamy.restore")
    assert done.attributes is not None and removed.attributes is not None
    assert done.attributes["kstreamy.task.id"] == "0_0"
    assert list(done.attributes["kstreamy.restore.stores"]) == ["counts"]
    assert done.attributes["kstreamy.restore.records"] == 42
    assert done.attributes["kstreamy.restore.outcome"] == "restored"
    assert removed.attributes["kstreamy.task.id"] == "0_1"
    assert removed.attributes["kstreamy.restore.outcome"] == "removed"


def test_tracing_on_without_opentelemetry_stops_the_start_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "kstreamy.runtime.otel", raising=False)
    monkeypatch.delitem(sys.modules, "kstreamy.runtime.otel_records", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import raises ImportError
    app = App("tracing", instance_id="i1", tracing=True)
    app.stream("in").to("out")
    with pytest.raises(ConfigError, match=r"pip install 'kstreamy\[otel\]'") as caught:
        Instance(app.topology, app.config, False)
    assert str(caught.value) == MISSING_PACKAGE
    # Off, nothing is imported, so the same setup starts.
    off = App("tracing", instance_id="i1")
    off.stream("in").to("out")
    assert Instance(off.topology, off.config, False)._tracing is NO_TRACING


def test_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert App("t").config.tracing_sample_every == 100
    monkeypatch.setenv("KSTREAMY_TRACING", "true")
    assert App("t").config.tracing is True
    assert App("t").config.with_overrides({"tracing": "off"}).tracing is False
    monkeypatch.setenv("KSTREAMY_TRACING", "maybe")
    with pytest.raises(ConfigError, match="KSTREAMY_TRACING: tracing must be bool"):
        App("t")
    monkeypatch.delenv("KSTREAMY_TRACING")
    with pytest.raises(ConfigError, match="tracing_sample_every must be >= 0"):
        App("t", tracing_sample_every=-1)
