"""The metadata of the input record being processed, shared by all processors of a task."""

from __future__ import annotations

from typing import Any


class RecordContext:
    """Where the current record came from; mutable and reused to keep the hot path cheap."""

    __slots__ = ("headers", "offset", "partition", "timestamp_ms", "topic")

    def __init__(self) -> None:
        self.topic = ""
        self.partition = -1
        self.offset = -1
        self.timestamp_ms = 0
        self.headers: list[tuple[str, bytes]] | None = None

    def where(self) -> str:
        return f"topic={self.topic} partition={self.partition} offset={self.offset}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
        }
