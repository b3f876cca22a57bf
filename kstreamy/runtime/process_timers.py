"""Timers of a process step (Flink's ``TimerService`` for a ``KeyedProcessFunction``).

A ProcessFunction registers "call ``on_timer`` for this key at time T" through ``ctx.timers``.
Timers are entries of the step's own changelogged timer store (``<step>-timers``), so they
survive restarts and move with their task; there is at most one per key, domain and time.
Event-time timers fire when the task's watermark passes them, processing-time timers when the
wall clock reaches them (both through the task's time hook), in timestamp order, with the
key's state in scope and ``ctx.emit`` at hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kstreamy.errors import KStreamyError
from kstreamy.runtime.timers import TimerService
from kstreamy.time.watermarks import NO_WATERMARK

if TYPE_CHECKING:
    from kstreamy.processor import ProcessFunction, ProcessorContext
    from kstreamy.runtime.context import RecordContext
    from kstreamy.runtime.task_clock import TaskClock


class Timers:
    """``ctx.timers``: register and delete timers for the current key (times in seconds)."""

    def __init__(self, service: TimerService, pctx: ProcessorContext, clock: TaskClock) -> None:
        self._service = service
        self._pctx = pctx
        self._clock = clock
        self.wall_clock_ms = 0
        """The last wall clock the task was told (ms)."""

    def register_event_time(self, timestamp: float) -> None:
        """Call ``on_timer`` for this key once the watermark passes ``timestamp``."""
        self._service.register_event_time(self._pctx.key_bytes(), _ms(timestamp))

    def register_processing_time(self, timestamp: float) -> None:
        """Call ``on_timer`` for this key once the wall clock reaches ``timestamp``."""
        self._service.register_processing_time(self._pctx.key_bytes(), _ms(timestamp))

    def delete_event_time(self, timestamp: float) -> None:
        self._service.delete_event_time(self._pctx.key_bytes(), _ms(timestamp))

    def delete_processing_time(self, timestamp: float) -> None:
        self._service.delete_processing_time(self._pctx.key_bytes(), _ms(timestamp))

    def delete(self, timestamp: float) -> None:
        """Delete this key's timers at ``timestamp`` in both domains."""
        self.delete_event_time(timestamp)
        self.delete_processing_time(timestamp)

    @property
    def current_watermark(self) -> float | None:
        """The task's watermark in seconds (None until every input has data)."""
        mark = self._clock.current
        return None if mark == NO_WATERMARK else mark / 1000

    @property
    def current_processing_time(self) -> float:
        return self.wall_clock_ms / 1000


class TimerFiring:
    """Fires due timers: subscribed to the task's watermark, and a time-hook listener for the
    wall clock."""

    def __init__(
        self,
        service: TimerService,
        timers: Timers,
        function: ProcessFunction,
        pctx: ProcessorContext,
        record: RecordContext,
        key_serde: Any,
        step: str,
    ) -> None:
        self._service = service
        self._timers = timers
        self._function = function
        self._pctx = pctx
        self._record = record
        self._decode_key = key_serde.deserialize
        self._step = step

    def on_watermark(self, watermark_ms: int) -> None:
        self._fire(self._service.due_event_time(watermark_ms), "event-time")

    def on_stream_time(self, stream_times: Mapping[str, int]) -> None:
        """Event time reaches timers through the watermark (see on_watermark)."""

    def on_wall_clock(self, now_ms: int) -> None:
        self._timers.wall_clock_ms = now_ms
        self._fire(self._service.due_processing_time(now_ms), "processing-time")

    def _fire(self, due: Iterator[tuple[int, bytes]], domain: str) -> None:
        record = self._record
        saved = record.timestamp_ms
        try:
            for ts_ms, key_bytes in due:
                key = self._decode_key(key_bytes)
                self._pctx._set_key(key)
                record.timestamp_ms = ts_ms
                try:
                    self._function.on_timer(ts_ms / 1000, self._pctx)
                except KStreamyError:
                    raise
                except Exception as exc:
                    raise KStreamyError(
                        f"{self._step}: on_timer failed for key {key!r} at the {domain} timer "
                        f"{ts_ms} ms: {type(exc).__name__}: {exc}"
                    ) from exc
        finally:
            record.timestamp_ms = saved


def _ms(seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"a timer time is seconds (int or float), got {seconds!r}")
    return round(seconds * 1000)
