"""Compiled forms of the stateful IR nodes (aggregations, tables, joins, process functions).

Each ``compile_<kind>(compiler, node, downstream)`` returns the node's ``forward(key, value)``
(``kstreamy.kinds`` names the function of each kind).
State is read and written through the task's store transactions with the store's serdes.
"""

from __future__ import annotations

import copy
import logging
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.topology import Node

if TYPE_CHECKING:
    from kstreamy.runtime.compiler import Compiler, Forward

log = logging.getLogger("kstreamy.processing")


_LONG = struct.Struct(">q")  # the int serde's encoding, which count() stores


class _DropLog:
    """Records without a key (or value) cannot be grouped or joined; say so, once per task."""

    def __init__(self, node: Node, what: str) -> None:
        self.node = node.name
        self.what = what
        self.count = 0

    def __call__(self, compiler: Compiler) -> None:
        self.count += 1
        if self.count == 1 or self.count % 10000 == 0:
            log.warning(
                "%s: dropped %d record(s) with a null %s (last at %s), as Kafka Streams does",
                self.node,
                self.count,
                self.what,
                compiler.ctx.where(),
            )


def _store_codec(compiler: Compiler, store: str):
    spec = compiler.stores[store]
    return compiler.transaction(store), spec.key_serde.serialize, spec.value_serde


def _key_serde(compiler: Compiler, store: str) -> Any:
    return compiler.stores[store].key_serde


def compile_aggregate(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    if node.params.get("counting"):
        return _compile_count(compiler, node, downstream)
    initializer = node.params["initializer"]
    aggregator = node.params["aggregator"]
    return _compile_fold(
        compiler,
        node,
        downstream,
        lambda key, value, previous: aggregator(
            key, value, initializer() if previous is None else previous
        ),
    )


def _compile_fold(
    compiler: Compiler,
    node: Node,
    downstream: Forward,
    fold: Callable[[Any, Any, Any], Any],
) -> Forward:
    """The shared body of aggregate and reduce: ``fold(key, value, previous or None)`` gives the
    new value of the key, stored (None deletes it) and forwarded. Stored values are never None,
    so None always means "no value yet"."""
    txn, key_bytes, values = _store_codec(compiler, node.params["store"])
    encode, decode = values.serialize, values.deserialize
    dropped = _DropLog(node, "key or value")
    ctx, key_serde = compiler.ctx, _key_serde(compiler, node.params["store"])

    def aggregate(key: Any, value: Any) -> None:
        if key is None or value is None:
            dropped(compiler)
            return
        raw_key = key_bytes(key)
        ctx.key_object, ctx.key_serde, ctx.key_bytes = key, key_serde, raw_key
        raw = txn.get(raw_key)
        result = fold(key, value, None if raw is None else decode(raw))
        if result is None:
            txn.delete(raw_key)
        else:
            txn.put(raw_key, encode(result))
        downstream(key, result)

    return aggregate


def _compile_count(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    """``count()``: the same result as the generic aggregate, with the per-record calls of the
    initializer, aggregator and int serde folded into one closure (counting is the most common
    aggregation, and it is per-record overhead)."""
    txn, key_bytes, _ = _store_codec(compiler, node.params["store"])
    pack, unpack = _LONG.pack, _LONG.unpack
    get, put = txn.get, txn.put
    dropped = _DropLog(node, "key or value")
    ctx, key_serde = compiler.ctx, _key_serde(compiler, node.params["store"])

    def count(key: Any, value: Any) -> None:
        if key is None or value is None:
            dropped(compiler)
            return
        raw_key = key_bytes(key)
        ctx.key_object, ctx.key_serde, ctx.key_bytes = key, key_serde, raw_key
        raw = get(raw_key)
        total = 1 if raw is None else unpack(raw)[0] + 1
        put(raw_key, pack(total))
        downstream(key, total)

    return count


def compile_reduce(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    reducer = node.params["reducer"]
    return _compile_fold(
        compiler,
        node,
        downstream,
        lambda key, value, previous: value if previous is None else reducer(previous, value),
    )


def compile_materialize(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    txn, key_bytes, values = _store_codec(compiler, node.params["store"])
    encode = values.serialize
    dropped = _DropLog(node, "key")

    def materialize(key: Any, value: Any) -> None:
        if key is None:
            dropped(compiler)
            return
        if value is None:
            txn.delete(key_bytes(key))
        else:
            txn.put(key_bytes(key), encode(value))
        downstream(key, value)

    return materialize


def compile_table_filter(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    predicate = node.params["fn"]

    def table_filter(key: Any, value: Any) -> None:
        keep = value is not None and predicate(key, value)
        downstream(key, value if keep else None)

    return table_filter


def compile_table_map_values(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    fn = node.params["fn"]
    return lambda key, value: downstream(key, None if value is None else fn(value))


def compile_stream_table_join(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    txn, key_bytes, values = _store_codec(compiler, node.params["table_store"])
    decode = values.deserialize
    joiner = node.params["joiner"]
    inner = node.params["how"] == "inner"
    dropped = _DropLog(node, "key or value")

    def stream_table_join(key: Any, value: Any) -> None:
        if key is None or value is None:
            dropped(compiler)
            return
        raw = txn.get(key_bytes(key))
        if raw is None:
            if not inner:
                downstream(key, joiner(value, None))
            return
        downstream(key, joiner(value, decode(raw)))

    return stream_table_join


def compile_table_join_side(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    """One side of a table-table join: an update here is joined with the other side's row.

    Results follow Kafka Streams: a row that stops joining (own row deleted, or inner join with
    no partner) becomes a deletion of the result row.
    """
    txn, key_bytes, values = _store_codec(compiler, node.params["other_store"])
    decode = values.deserialize
    joiner = node.params["joiner"]
    how = node.params["how"]
    left_side = node.params["side"] == "left"

    def join(mine: Any, theirs: Any) -> Any:
        return joiner(mine, theirs) if left_side else joiner(theirs, mine)

    def table_join_side(key: Any, value: Any) -> None:
        raw = txn.get(key_bytes(key))
        other = None if raw is None else decode(raw)
        # Which side's row must exist for a result row: inner both, left the left, outer either.
        left = value if left_side else other
        right = other if left_side else value
        if how == "inner":
            present = left is not None and right is not None
        elif how == "left":
            present = left is not None
        else:
            present = left is not None or right is not None
        if present:
            downstream(key, join(value, other))
        elif value is None or how != "left" or left_side:
            downstream(key, None)

    return table_join_side


class _ProcessRuntime:
    """What a ProcessorContext delegates to: stores, record metadata and downstream."""

    def __init__(self, compiler: Compiler, downstream: Forward, store_names: list[str]):
        self._compiler = compiler
        self._downstream = downstream
        self._allowed = set(store_names)
        self.record = compiler.ctx

    def spec(self, name: str) -> Any:
        self._check(name)
        return self._compiler.stores[name]

    def transaction(self, name: str) -> Any:
        self._check(name)
        return self._compiler.transaction(name)

    def _check(self, name: str) -> None:
        if name not in self._allowed:
            allowed = ", ".join(sorted(self._allowed)) or "none"
            raise KeyError(
                f"store {name!r} was not given to this process step (stores=[{allowed}])"
            )

    def emit(self, key: Any, value: Any, timestamp: float | None) -> None:
        if timestamp is None:
            self._downstream(key, value)
            return
        ctx = self._compiler.ctx
        saved = ctx.timestamp_ms
        ctx.timestamp_ms = round(timestamp * 1000)
        try:
            self._downstream(key, value)
        finally:
            ctx.timestamp_ms = saved


def compile_process(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    from kstreamy.processor import ProcessorContext

    function = copy.deepcopy(node.params["function"])
    runtime = _ProcessRuntime(compiler, downstream, node.params["stores"])
    key_serde = node.params.get("key_serde")
    if key_serde is None:
        from kstreamy.serde import resolve_serde

        key_serde = resolve_serde("json")
    pctx = ProcessorContext(runtime, key_serde)
    timer_store = node.params.get("timer_store")
    if timer_store:
        _bind_timers(compiler, node, function, pctx, key_serde, timer_store)
    compiler.on_open.append(lambda: function.open(pctx))
    compiler.on_close.append(function.close)
    process = function.process

    def process_(key: Any, value: Any) -> None:
        pctx._set_key(key)
        process(key, value, pctx)

    return process_


def _bind_timers(
    compiler: Compiler,
    node: Node,
    function: Any,
    pctx: Any,
    key_serde: Any,
    timer_store: str,
) -> None:
    """Give ``ctx.timers`` to a function that has ``on_timer`` and fire its timers."""
    from kstreamy.runtime.process_timers import TimerFiring, Timers
    from kstreamy.runtime.timers import TimerService

    service = TimerService(compiler.transaction(timer_store))
    clock = compiler.clock
    pctx.timers = timers = Timers(service, pctx, clock)
    firing = TimerFiring(service, timers, function, pctx, compiler.ctx, key_serde, node.name)
    clock.subscribe(firing.on_watermark)
    compiler.time_listeners.append(firing)
    compiler.on_discard.append(service.discard)
