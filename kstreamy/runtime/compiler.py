"""Compile the IR nodes of one sub-topology into chained Python callables.

Each node becomes a closure ``forward(key, value)`` that already holds its children, so the
per-record path is a few direct calls with no dispatch on node kind. Which function compiles a
kind is looked up in the registry of kinds (``kstreamy.kinds``) once per kind, at build time.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kstreamy.errors import TopologyError
from kstreamy.kinds import kind_of
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.emitter import Emitter
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.time_hook import TimeListener
from kstreamy.topology import Node, StoreSpec, SubTopology

if TYPE_CHECKING:
    from kstreamy.runtime.task_clock import TaskClock
    from kstreamy.state.task_state import TaskState
    from kstreamy.state.transaction import StoreTransaction

Forward = Callable[[Any, Any], None]
"""What every compiled node is: called with each (key, value) that reaches it. Windowed
aggregations forward to their own kind of downstream (``WindowForward``, with the window)."""
CompileFn = Callable[["Compiler", Node, Forward], Forward]


def _fan_out(children: list[Forward]) -> Forward:
    if not children:
        return lambda key, value: None
    if len(children) == 1:
        return children[0]

    def forward(key: Any, value: Any) -> None:
        for child in children:
            child(key, value)

    return forward


@dataclasses.dataclass
class CompiledTask:
    """Entry function per source node, plus hooks to run when the task opens and closes.

    ``time_listeners`` are the callbacks of nodes that act on time (windows closing, timers);
    the task's time hook calls them when its time advances.
    """

    entries: dict[str, Forward]
    on_open: list[Callable[[], None]]
    on_close: list[Callable[[], None]]
    time_listeners: list[TimeListener] = dataclasses.field(default_factory=list)
    before_commit: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    """Write what nodes keep in memory into the store transactions (caches of open windows)."""
    on_discard: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    """The task's uncommitted writes were dropped: forget what was cached in memory too."""


@functools.cache
def compile_function(kind: str) -> CompileFn:
    """The compile function the registry names for ``kind``, imported on first use."""
    module_name, _, attribute = kind_of(kind).compile.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise TopologyError(f"node kind {kind!r}: cannot load its compile function: {exc}") from exc


def compile_subtopology(
    sub: SubTopology,
    ctx: RecordContext,
    emitter: Emitter,
    stores: dict[str, StoreSpec] | None = None,
    state: TaskState | None = None,
    clock: TaskClock | None = None,
    metrics: Metrics | None = None,
    output_partitions: Mapping[str, int] | None = None,
) -> CompiledTask:
    """Compile the nodes of ``sub`` for one task; stateful nodes bind to ``state``, nodes that
    act on event time subscribe to ``clock``; sinks of windowed keys choose partitions from
    ``output_partitions`` (see :attr:`Compiler.output_partitions`)."""
    compiler = Compiler(sub, ctx, emitter, stores or {}, state, clock, metrics, output_partitions)
    for node in reversed(sub.nodes):  # children before parents: each closure holds its children
        compiler.compiled[node.name] = compiler.compile(node)
    entries = {n.name: compiler.compiled[n.name] for n in sub.nodes if n.role == "source"}
    return CompiledTask(
        entries,
        compiler.on_open,
        compiler.on_close,
        compiler.time_listeners,
        compiler.before_commit,
        compiler.on_discard,
    )


class Compiler:
    """What a compile function may use: the task's record context, emitter, stores and hooks."""

    def __init__(
        self,
        sub: SubTopology,
        ctx: RecordContext,
        emitter: Emitter,
        stores: dict[str, StoreSpec],
        state: TaskState | None,
        clock: TaskClock | None = None,
        metrics: Metrics | None = None,
        output_partitions: Mapping[str, int] | None = None,
    ) -> None:
        self.ctx = ctx
        self.output_partitions = output_partitions
        """Partition count of each output topic. Sinks of windowed keys need it to partition by
        the base key, as Kafka Streams does; None (tasks built outside an instance or the test
        driver) leaves every key to the producer's partitioner."""
        self.metrics = metrics if metrics is not None else Metrics()
        self.emitter = emitter
        self.stores = stores
        self.state = state
        self._clock = clock
        self.compiled: dict[str, Forward] = {}
        self.on_open: list[Callable[[], None]] = []
        self.on_close: list[Callable[[], None]] = []
        self.time_listeners: list[TimeListener] = []
        self.before_commit: list[Callable[[], None]] = []
        self.on_discard: list[Callable[[], None]] = []
        self._children: dict[str, list[Node]] = {n.name: [] for n in sub.nodes}
        for node in sub.nodes:
            for parent in node.parents:
                self._children[parent].append(node)

    @property
    def clock(self) -> TaskClock:
        """The task's event-time clock, for nodes whose kind says ``event_time=True``."""
        if self._clock is None:
            raise TopologyError("this task has no event-time clock (no step uses event time)")
        return self._clock

    def children_of(self, node: Node) -> list[Node]:
        return self._children[node.name]

    def transaction(self, store: str) -> StoreTransaction:
        if self.state is None:
            raise TopologyError(f"store {store!r} used in a task without state")
        return self.state.transaction(store)

    def compile(self, node: Node) -> Forward:
        downstream = _fan_out([self.compiled[c.name] for c in self.children_of(node)])
        return compile_function(node.kind)(self, node, downstream)
