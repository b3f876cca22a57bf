"""What happens to records an event-time step cannot use: late ones and ones without a key or
value. Shared by windowed aggregations and stream-stream joins, so both treat them alike.

Late records (behind the watermark past grace) are never dropped silently: by default they are
counted (``late_records_dropped``) with a rate-limited log line; with ``late_topic`` they are
written there as read (raw key and value) with headers naming the window and the watermark.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kstreamy.topology import Node
from kstreamy.windows import Windowed

if TYPE_CHECKING:
    from kstreamy.runtime.compiler import Compiler

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


class NullDrops:
    """Records without a key or value cannot be windowed or joined; said once per 10,000."""

    def __init__(self, node: Node) -> None:
        self._node = node.name
        self.count = 0

    def __call__(self, where: str) -> None:
        self.count += 1
        if self.count == 1 or self.count % 10000 == 0:
            log.warning(
                "%s: dropped %d record(s) with a null key or value (last at %s)",
                self._node,
                self.count,
                where,
            )
