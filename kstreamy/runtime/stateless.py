"""Compiled forms of the stateless IR nodes (record-at-a-time steps, branches and sinks).

Each ``compile_<kind>(compiler, node, downstream)`` returns the node's ``forward(key, value)``,
a closure that already holds what it calls next (see ``kstreamy.kinds`` for which kind uses
which function). The simple steps (filter, map, map_values, peek, foreach) are fused into
straight chains by ``kstreamy.runtime.fusion`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kstreamy.errors import SerdeError, TopologyError
from kstreamy.partitioner import base_key_partitioner
from kstreamy.serde import fast_paths, is_identity
from kstreamy.serde_binding import bind
from kstreamy.topology import Node

if TYPE_CHECKING:
    from kstreamy.runtime.compiler import Compiler, Forward


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
    fast path (see :func:`kstreamy.serde.fast_paths`) are tried through it first. A sink of
    windowed keys gets its own closure (see :func:`windowed_partitioner`), decided here once, so
    other sinks pay nothing for it.
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
    partition_of = windowed_partitioner(node, compiler.output_partitions)

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

    def windowed_sink(key: Any, value: Any) -> None:
        """``sink`` with the partition of the key's base key (windowed keys are never raw
        bytes, and no store step leaves their serialized form in the record context)."""
        if key is None:
            key_bytes, partition = None, -1  # -1: the producer's partitioner
        else:
            try:
                key_bytes = fast_key(key)
            except Exception:
                key_bytes = full(serialize_key, "key", key)
            partition = partition_of(key)
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
                produce(
                    topic, value_bytes, key_bytes, partition=partition, timestamp=ctx.timestamp_ms
                )
                return
            except BufferError:
                pass  # emit waits for room
        emit(
            topic,
            key_bytes,
            value_bytes,
            ctx.timestamp_ms,
            None,
            None if partition < 0 else partition,
        )

    return sink if partition_of is None else windowed_sink


def windowed_partitioner(
    node: Node, output_partitions: Mapping[str, int] | None
) -> Callable[[Any], int] | None:
    """How a sink writing windowed keys picks partitions, or None for a sink that does not.

    As in Kafka Streams, a sink whose key serde is a windowed one (it names a ``base_key_serde``)
    partitions by the base key: ``to()`` after a windowed aggregation uses
    ``WindowedStreamPartitioner``. Repartition topics keep the producer's partitioner over the
    whole key, as Kafka Streams' repartition sinks do (they pass no partitioner). A sink may
    name the base key serde itself (``base_key_serde`` param): ``to()`` does that for
    ``windowed-json`` keys, which have no inner serde, with the aggregation's key serde.
    """
    if node.params.get("internal") or output_partitions is None:
        return None
    base_key_serde = node.params.get("base_key_serde") or getattr(
        node.params["key_serde"], "base_key_serde", None
    )
    if base_key_serde is None:
        return None
    topic = node.params["topic"]
    try:
        partitions = output_partitions[topic]
    except KeyError:
        raise TopologyError(f"no partition count for output topic {topic}") from None
    return base_key_partitioner(base_key_serde, partitions)
