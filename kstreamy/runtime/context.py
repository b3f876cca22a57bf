"""The metadata of the input record being processed, shared by all processors of a task."""

from __future__ import annotations

from typing import Any

_NO_KEY = object()


class RecordContext:
    """Where the current record came from; mutable and reused to keep the hot path cheap.

    Only the event time is copied per record; topic, partition, offset and headers are read from
    the record itself when something (an error report, a processor) asks for them.

    ``key_object``, ``key_serde`` and ``key_bytes`` remember the last key a store step
    serialized: a sink that gets the very same key object and uses the very same serde takes
    the bytes instead of serializing again (count then to, the most common stateful pipeline,
    serializes each key once). Keys are treated as immutable here, as in every store.
    """

    __slots__ = ("key_bytes", "key_object", "key_serde", "record", "records_out", "timestamp_ms")

    def __init__(self) -> None:
        self.record: Any = None
        self.timestamp_ms = 0
        self.key_object: Any = _NO_KEY
        self.key_serde: Any = None
        self.key_bytes: bytes | None = None
        self.records_out = 0
        """Records the task's sinks wrote: a plain int read by the metrics at scrape time."""

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
