"""Compile the IR nodes of one sub-topology into chained Python callables.

Each node becomes a closure ``forward(key, value)`` that already holds its children, so the
per-record path is a few direct calls with no dispatch on node kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.errors import SerdeError, TopologyError
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.emitter import Emitter
from kstreamy.topology import Node, SubTopology

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


def compile_subtopology(
    sub: SubTopology, ctx: RecordContext, emitter: Emitter
) -> dict[str, Forward]:
    """Return ``{source node name: entry function}`` for one task of ``sub``."""
    children_of: dict[str, list[Node]] = {n.name: [] for n in sub.nodes}
    for node in sub.nodes:
        for parent in node.parents:
            children_of[parent].append(node)
    compiled: dict[str, Forward] = {}
    for node in reversed(sub.nodes):
        children = children_of[node.name]
        compiled[node.name] = _compile_node(node, children, compiled, ctx, emitter)
    return {n.name: compiled[n.name] for n in sub.nodes if n.kind == "source"}


def _compile_node(
    node: Node,
    children: list[Node],
    compiled: dict[str, Forward],
    ctx: RecordContext,
    emitter: Emitter,
) -> Forward:
    kind = node.kind
    params = node.params
    downstream = _fan_out([compiled[c.name] for c in children])

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
    raise TopologyError(f"node {node.name!r} has unknown kind {kind!r}")


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
    serialize_key = node.params["key_serde"].serialize
    serialize_value = node.params["value_serde"].serialize
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
