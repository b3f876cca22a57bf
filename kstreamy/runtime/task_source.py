"""How a task's source turns the raw records of its topics into (key, value).

Per source the serdes' deserializers, the C-level fast paths the hot loop tries first, the
timestamp extractor and the entry into the compiled graph, looked up once per run of records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kstreamy.serde import fast_paths, is_identity


class RawRecord(Protocol):
    """The accessors of ``confluent_kafka.Message`` that a task reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...
    def error(self) -> Any: ...


class Source:
    """How one source turns raw records into (key, value): per side the serde's deserializer,
    and the callable the hot path tries first (None: the raw bytes are the value)."""

    __slots__ = (
        "deserialize_key",
        "deserialize_value",
        "entry",
        "fast_key",
        "fast_value",
        "timestamp",
        "watermarks",
    )

    def __init__(
        self,
        key_serde: Any,
        value_serde: Any,
        timestamp: Callable[[Any, Any, float], float] | None,
        entry: Callable[[Any, Any], None],
        watermarks: bool = False,
    ) -> None:
        self.watermarks = watermarks
        """A repartition topic that carries watermark control records between records."""
        self.deserialize_key = key_serde.deserialize
        self.deserialize_value = value_serde.deserialize
        self.fast_key = _first_try(key_serde)
        self.fast_value = _first_try(value_serde)
        self.timestamp = timestamp
        self.entry = entry


def event_time_ms(seconds: Any) -> int:
    """The event time in ms of what a timestamp extractor returned, or an error the bad-input
    policy handles: an invalid time would move windows and timers wrongly."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
        raise ValueError(f"the timestamp extractor returned {seconds!r}, not seconds")
    if seconds < 0:
        raise ValueError(f"the timestamp extractor returned a negative time: {seconds!r}")
    return round(seconds * 1000)


def _first_try(serde: Any) -> Callable[[bytes | None], Any] | None:
    """What the hot path calls first: nothing for an identity serde, else its fast path (see
    :func:`kstreamy.serde.fast_paths`) or its deserialize."""
    if is_identity(serde):
        return None
    return fast_paths(serde)[1] or serde.deserialize
