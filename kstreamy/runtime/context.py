"""The metadata of the input record being processed, shared by all processors of a task."""

from __future__ import annotations

from typing import Any


class RecordContext:
    """Where the current record came from; mutable and reused to keep the hot path cheap.

    Only the event time is copied per record; topic, partition, offset and headers are read from
    the record itself when something (an error report, a processor) asks for them.
    """

    __slots__ = ("record", "timestamp_ms")

    def __init__(self) -> None:
        self.record: Any = None
        self.timestamp_ms = 0

    @property
    def topic(self) -> str:
        return self.record.topic() if self.record is not None else ""

    @property
    def partition(self) -> int:
        return self.record.partition() if self.record is not None else -1

    @property
    def offset(self) -> int:
        return self.record.offset() if self.record is not None else -1

    @property
    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.record.headers() if self.record is not None else None

    def where(self) -> str:
        return f"topic={self.topic} partition={self.partition} offset={self.offset}"
