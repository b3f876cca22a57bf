"""The one way time reaches the processors of a task.

Windows, event-time and processing-time timers and idle-input detection all need to know when
time moves, and it moves in two ways: event time with the records (known after each batch, per
input) and the wall clock (known on every loop round, records or not). A node that cares
registers a :class:`TimeListener` when it is compiled; the instance loop and the test driver call
the task, and the task calls its listeners. Nothing else in the runtime knows about time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class TimeListener(Protocol):
    def on_stream_time(self, stream_times: Mapping[str, int]) -> None:
        """After a batch of records: per input topic of the task, the largest event time (ms)
        seen so far. Called only for tasks that received records in the batch."""

    def on_wall_clock(self, now_ms: int) -> None:
        """On every round of the instance loop (at most every few ms) with the wall clock in ms
        since the epoch; in the test driver, with its controllable clock."""


WALL_CLOCK_INTERVAL_MS = 5
"""How often, at most, the instance loop tells tasks the wall clock."""
