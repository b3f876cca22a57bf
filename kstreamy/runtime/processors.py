"""Compile the IR nodes of one sub-topology into chained Python callables.

Each node becomes a closure ``forward(key, value)`` that already holds its children, so the
per-record path is a few direct calls with no dispatch on node kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.errors import SerdeError, TopologyError
from kstreamy.runtime import stateful
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.emitter import Emitter
from kstreamy.serde_binding import bound_serializers
from kstreamy.topology import Node, StoreSpec, SubTopology

if TYPE_CHECKING:
    from kstreamy.runtime.task_state import TaskState
    from kstreamy.state.transaction import StoreTransaction

Forward = Callable[[Any, Any], None]


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
    """Entry function per source node, plus hooks to run when the task opens and closes."""

    entries: dict[str, Forward]
    on_open: list[Callable[[], None]]
    on_close: list[Callable[[], None]]


def compile_subtopology(
    sub: SubTopology,
    ctx: RecordContext,
    emitter: Emitter,
    stores: dict[str, StoreSpec] | None = None,
    state: TaskState | None = None,
) -> CompiledTask:
    """Compile the nodes of ``sub`` for one task; stateful nodes bind to ``state``."""
    compiler = _Compiler(ctx, emitter, stores or {}, state)
    children_of: dict[str, list[Node]] = {n.name: [] for n in sub.nodes}
    for node in sub.nodes:
        for parent in node.parents:
            children_of[parent].append(node)
    for node in reversed(sub.nodes):
        compiler.compiled[node.name] = compiler.compile(node, children_of[node.name])
    entries = {n.name: compiler.compiled[n.name] for n in sub.nodes if n.kind == "source"}
    return CompiledTask(entries, compiler.on_open, compiler.on_close)


class _Compiler:
    def __init__(
        self,
        ctx: RecordContext,
        emitter: Emitter,
        stores: dict[str, StoreSpec],
        state: TaskState | None,
    ) -> None:
        self.ctx = ctx
        self.emitter = emitter
        self.stores = stores
        self.state = state
        self.compiled: dict[str, Forward] = {}
        self.on_open: list[Callable[[], None]] = []
        self.on_close: list[Callable[[], None]] = []

    def transaction(self, store: str) -> StoreTransaction:
        if self.state is None:
            raise TopologyError(f"store {store!r} used in a task without state")
        return self.state.transaction(store)

    def compile(self, node: Node, children: list[Node]) -> Forward:
        downstream = _fan_out([self.compiled[c.name] for c in children])
        kind = node.kind
        stateless = _compile_stateless(
            node, children, self.compiled, downstream, self.ctx, self.emitter
        )
        if stateless is not None:
            return stateless
        builder = getattr(stateful, f"compile_{kind}", None)
        if builder is None:
            raise TopologyError(f"node {node.name!r} has unknown kind {kind!r}")
        return builder(self, node, downstream)


def _compile_stateless(
    node: Node,
    children: list[Node],
    compiled: dict[str, Forward],
    downstream: Forward,
    ctx: RecordContext,
    emitter: Emitter,
) -> Forward | None:
    kind = node.kind
    params = node.params
    if kind in ("source", "merge", "branch_output"):
        return downstream
    if kind == "map":
        fn = params["fn"]

        def map_(key: Any, value: Any) -> None:
            new_key, new_value = fn(key, value)
            downstream(new_key, new_value)

        return map_
    if kind == "map_values":
        fn = params["fn"]
        return lambda key, value: downstream(key, fn(value))
    if kind == "filter":
        fn = params["fn"]

        def filter_(key: Any, value: Any) -> None:
            if fn(key, value):
                downstream(key, value)

        return filter_
    if kind == "flat_map":
        fn = params["fn"]

        def flat_map(key: Any, value: Any) -> None:
            for new_key, new_value in fn(key, value):
                downstream(new_key, new_value)

        return flat_map
    if kind == "peek":
        fn = params["fn"]

        def peek(key: Any, value: Any) -> None:
            fn(key, value)
            downstream(key, value)

        return peek
    if kind == "foreach":
        fn = params["fn"]
        return lambda key, value: fn(key, value)
    if kind == "branch":
        return _compile_branch(node, children, compiled)
    if kind == "sink":
        return _compile_sink(node, ctx, emitter)
    return None


def _compile_branch(node: Node, children: list[Node], compiled: dict[str, Forward]) -> Forward:
    by_index = {c.params["index"]: compiled[c.name] for c in children}
    routes = [(pred, by_index[i]) for i, (_, pred) in enumerate(node.params["predicates"])]

    def branch(key: Any, value: Any) -> None:
        for predicate, target in routes:
            if predicate is None or predicate(key, value):
                target(key, value)
                return

    return branch


def _compile_sink(node: Node, ctx: RecordContext, emitter: Emitter) -> Forward:
    topic = node.params["topic"]
    serialize_key, serialize_value = bound_serializers(node.params, topic)
    emit = emitter.emit

    def sink(key: Any, value: Any) -> None:
        try:
            key_bytes = serialize_key(key)
        except SerdeError as exc:
            raise SerdeError(f"serializing the key for topic {topic}: {exc}") from exc
        try:
            value_bytes = serialize_value(value)
        except SerdeError as exc:
            raise SerdeError(f"serializing the value for topic {topic}: {exc}") from exc
        emit(topic, key_bytes, value_bytes, ctx.timestamp_ms)

    return sink
