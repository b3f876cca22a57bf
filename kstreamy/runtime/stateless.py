"""Compiled forms of the stateless IR nodes (record-at-a-time steps, branches and sinks).

Each ``compile_<kind>(compiler, node, downstream)`` returns the node's ``forward(key, value)``,
a closure that already holds what it calls next (see ``kstreamy.kinds`` for which kind uses
which function). The simple steps (filter, map, map_values, peek, foreach) are fused into
straight chains by ``kstreamy.runtime.fusion`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.errors import SerdeError
from kstreamy.serde import fast_paths, is_identity
from kstreamy.serde_binding import bind
from kstreamy.topology import Node

if TYPE_CHECKING:
    from kstreamy.runtime.processors import Compiler

Forward = Callable[[Any, Any], None]


def compile_pass(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    """Sources, merges and branch outputs only forward: they compile to their children."""
    return downstream


def compile_flat_map(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    fn = node.params["fn"]

    def flat_map(key: Any, value: Any) -> None:
        for new_key, new_value in fn(key, value):
            downstream(new_key, new_value)

    return flat_map


def compile_branch(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    """Each record goes to the first branch whose predicate matches (None matches all)."""
    by_index = {c.params["index"]: compiler.compiled[c.name] for c in compiler.children_of(node)}
    routes = [(pred, by_index[i]) for i, (_, pred) in enumerate(node.params["predicates"])]

    def branch(key: Any, value: Any) -> None:
        for predicate, target in routes:
            if predicate is None or predicate(key, value):
                target(key, value)
                return

    return branch


def compile_sink(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    """Serialize and hand over to the emitter; serde errors name the topic and the part.

    The key's bytes are reused from the record context when a store step upstream has just
    serialized this very key object with this very serde (see ``RecordContext``). Serdes with a
    fast path (see :func:`kstreamy.serde.fast_paths`) are tried through it first.
    """
    ctx = compiler.ctx
    emit = compiler.emitter.emit
    topic = node.params["topic"]
    key_serde = bind(node.params["key_serde"], topic, True)
    value_serde = bind(node.params["value_serde"], topic, False)
    serialize_key = key_serde.serialize
    serialize_value = value_serde.serialize
    fast_key = fast_paths(key_serde)[0] or serialize_key
    fast_value = fast_paths(value_serde)[0] or serialize_value
    raw_keys = is_identity(key_serde)
    produce = getattr(compiler.emitter, "produce", None)

    def full(serialize: Callable[[Any], bytes | None], what: str, data: Any) -> bytes | None:
        try:
            return serialize(data)
        except SerdeError as exc:
            raise SerdeError(f"serializing the {what} for topic {topic}: {exc}") from exc

    def sink(key: Any, value: Any) -> None:
        if key is None or (raw_keys and type(key) is bytes):
            key_bytes = key
        elif key is ctx.key_object and ctx.key_serde is key_serde:
            key_bytes = ctx.key_bytes
        else:
            try:
                key_bytes = fast_key(key)
            except Exception:
                key_bytes = full(serialize_key, "key", key)
        if value is None:
            value_bytes = None
        else:
            try:
                value_bytes = fast_value(value)
            except Exception:
                value_bytes = full(serialize_value, "value", value)
        ctx.records_out += 1
        if produce is not None:
            try:
                produce(topic, value_bytes, key_bytes, timestamp=ctx.timestamp_ms)
                return
            except BufferError:
                pass  # emit waits for room
        emit(topic, key_bytes, value_bytes, ctx.timestamp_ms)

    return sink
