"""Compiled form of a windowed aggregation: binds the window logic of
:mod:`kstreamy.runtime.windowed` to a task's store, clock, commit cycle and downstream.

Late records (behind the watermark past grace) are never dropped silently: by default they are
counted (``late_records_dropped``) with a rate-limited log line; with ``late_topic`` they are
written there as read (raw key and value) with headers naming the window and the watermark.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kstreamy.runtime.windowed import counting, reducing, windowed_aggregation
from kstreamy.serde import fast_paths
from kstreamy.topology import Node
from kstreamy.windows import Windowed

if TYPE_CHECKING:
    from kstreamy.runtime.processors import Compiler, Forward

log = logging.getLogger("kstreamy.windows")

LATE_HEADER_PREFIX = "kstreamy.late."
LOG_EVERY_S = 10.0


class LateRecords:
    """What happens to a record that arrives for a window that has closed."""

    def __init__(self, compiler: Compiler, node: Node, topic: str | None) -> None:
        self._ctx = compiler.ctx
        self._emit = compiler.emitter.emit
        self._metrics = compiler.metrics
        self._node = node.name
        self._topic = topic
        self._count = 0
        self._next_log = 0.0

    def __call__(self, key: Any, value: Any, ts_ms: int, window: Windowed, watermark: int) -> None:
        self._count += 1
        ctx = self._ctx
        if self._topic is not None:
            self._metrics.late_records_routed += 1
            record = ctx.record
            headers = [
                (LATE_HEADER_PREFIX + "window_start_ms", str(window.start_ms).encode()),
                (LATE_HEADER_PREFIX + "window_end_ms", str(window.end_ms).encode()),
                (LATE_HEADER_PREFIX + "watermark_ms", str(watermark).encode()),
                (LATE_HEADER_PREFIX + "timestamp_ms", str(ts_ms).encode()),
                (LATE_HEADER_PREFIX + "step", self._node.encode()),
                (LATE_HEADER_PREFIX + "source", ctx.where().encode()),
            ]
            self._emit(self._topic, record.key(), record.value(), ts_ms, headers)
            return
        self._metrics.late_records_dropped += 1
        now = time.monotonic()
        if now >= self._next_log:
            self._next_log = now + LOG_EVERY_S
            log.warning(
                "%s: dropped %d late record(s) so far; the last at %s, event time %d ms, for "
                "window [%d, %d) with the watermark at %d ms (set late_topic= to keep them)",
                self._node,
                self._count,
                ctx.where(),
                ts_ms,
                window.start_ms,
                window.end_ms,
                watermark,
            )


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
        decode=value_serde.deserialize,
        decode_key=key_serde.deserialize,
        forward=forward,
        on_late=LateRecords(compiler, node, params.get("late_topic")),
        emit_final=params["emit_final"],
        merger=merger,
    )
    clock = compiler.clock
    clock.subscribe(aggregation.on_watermark)
    compiler.before_commit.append(aggregation.flush)
    compiler.on_discard.append(aggregation.discard)
    process = aggregation.process
    serialize_key = key_serde.serialize
    fast_key = fast_paths(key_serde)[0] or serialize_key
    dropped = _NullDrops(node)

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


class _NullDrops:
    """Records without a key or value cannot be windowed; said once per 10,000, as elsewhere."""

    def __init__(self, node: Node) -> None:
        self._node = node.name
        self._count = 0

    def __call__(self, where: str) -> None:
        self._count += 1
        if self._count == 1 or self._count % 10000 == 0:
            log.warning(
                "%s: dropped %d record(s) with a null key or value (last at %s)",
                self._node,
                self._count,
                where,
            )
