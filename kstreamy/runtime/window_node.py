"""Compiled form of a windowed aggregation: binds the window logic of
:mod:`kstreamy.runtime.windowed` to a task's store, clock, commit cycle and downstream.

Late records and records without a key or value are handled as in every event-time step (see
:mod:`kstreamy.runtime.late_records`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kstreamy.runtime.late_records import LATE_HEADER_PREFIX, LateRecords, NullDrops
from kstreamy.runtime.windowed import counting, reducing, windowed_aggregation
from kstreamy.serde import fast_paths
from kstreamy.topology import Node
from kstreamy.windows import Windowed

if TYPE_CHECKING:
    from kstreamy.runtime.compiler import Compiler, Forward

__all__ = ["LATE_HEADER_PREFIX", "LateRecords", "compile_window_aggregate"]


def compile_window_aggregate(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    params = node.params
    spec = compiler.stores[params["store"]]
    txn = compiler.transaction(params["store"])
    key_serde, value_serde = spec.key_serde, spec.value_serde
    fold = params["fold"]
    if fold == "count":
        initializer, aggregator, merger = counting()
    elif fold == "reduce":
        initializer, aggregator, merger = reducing(params["reducer"])
    else:
        initializer, aggregator, merger = (
            params["initializer"],
            params["aggregator"],
            params["merger"],
        )
    ctx = compiler.ctx

    def forward(window: Windowed, value: Any, ts_ms: int) -> None:
        saved = ctx.timestamp_ms
        ctx.timestamp_ms = ts_ms
        try:
            downstream(window, value)
        finally:
            ctx.timestamp_ms = saved

    aggregation = windowed_aggregation(
        txn,
        params["windows"],
        initializer=initializer,
        aggregator=aggregator,
        encode=value_serde.serialize,
        fast_encode=fast_paths(value_serde)[0],
        decode=value_serde.deserialize,
        decode_key=key_serde.deserialize,
        forward=forward,
        on_late=LateRecords(compiler, node, params.get("late_topic")),
        emit_final=params["emit_final"],
        merger=merger,
        retention_ms=params.get("retention_ms", 0),
    )
    clock = compiler.clock
    clock.subscribe(aggregation.on_watermark)
    compiler.before_commit.append(aggregation.flush)
    compiler.on_discard.append(aggregation.discard)
    process = aggregation.process
    serialize_key = key_serde.serialize
    fast_key = fast_paths(key_serde)[0] or serialize_key
    dropped = NullDrops(node)

    def window_aggregate(key: Any, value: Any) -> None:
        if key is None or value is None:
            dropped(ctx.where())
            return
        try:
            key_bytes = fast_key(key)
        except Exception:
            key_bytes = serialize_key(key)
        process(key, key_bytes, value, ctx.timestamp_ms, clock.current)

    return window_aggregate
