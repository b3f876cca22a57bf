"""Serdes for the keys of windowed results (:class:`~kstreamy.windows.Windowed`).

Three output formats, chosen per sink:

* :class:`TimeWindowedSerde` (tumbling, hopping, sliding): the inner key's bytes followed by
  the window start as an 8-byte big-endian signed integer (ms). This is byte for byte Kafka
  Streams' ``TimeWindowedSerializer``, so a Java consumer can read kstreamy's output with
  ``TimeWindowedDeserializer`` and the same window size. Like Kafka Streams, the end is not
  written: the reader must know the window size (end = start + size; for sliding windows the
  size is the time difference and the end is inclusive).
* :class:`SessionWindowedSerde`: inner key bytes, then the end, then the start (8 bytes each,
  big-endian signed), which is Kafka Streams' ``SessionWindowedSerializer`` layout.
* :class:`WindowedJsonSerde`: ``{"key": ..., "start": s, "end": s, "start_ms": ms, "end_ms": ms}``
  as UTF-8 JSON (seconds for people, exact milliseconds for programs), for consumers that are
  not Kafka Streams and want to read the window without knowing the window size.

These are wire formats for output topics. Window *stores* use a different, order-preserving
layout (see :mod:`kstreamy.state.window_store`).

Each serde names the serde of the key inside the window as ``base_key_serde``: a sink writing
windowed keys picks the partition from those bytes alone, as Kafka Streams'
``WindowedStreamPartitioner`` does (``serializeBaseKey``), so every window of a key lands on the
partition the key itself would go to (see :func:`kstreamy.partitioner.base_key_partitioner`).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from kstreamy.errors import SerdeError
from kstreamy.serde import JsonSerde, Serde, fast_paths, resolve_serde
from kstreamy.windows import Windowed

__all__ = ["SessionWindowedSerde", "TimeWindowedSerde", "WindowedJsonSerde"]

_LONG = struct.Struct(">q")
_TWO_LONGS = struct.Struct(">qq")
_MIN_MS, _MAX_MS = -(2**63), 2**63 - 1


def _inner_bytes(inner: Serde, value: Any) -> bytes:
    if not isinstance(value, Windowed):
        raise SerdeError(f"windowed serde expects a Windowed key, got {type(value).__name__}")
    raw = inner.serialize(value.key)
    return b"" if raw is None else raw


class TimeWindowedSerde:
    """Inner key bytes + 8-byte big-endian window start (Kafka Streams compatible)."""

    def __init__(self, inner: str | Serde, window_size_ms: int) -> None:
        if window_size_ms <= 0:
            raise ValueError(f"window_size_ms must be positive, got {window_size_ms}")
        self.inner = resolve_serde(inner)
        self.base_key_serde = self.inner
        self.window_size_ms = window_size_ms
        self.name = f"time-windowed({self.inner.name})"
        self._fast_inner = fast_paths(self.inner)[0]

    def serialize(self, value: Any) -> bytes | None:
        # Every windowed result is serialized here: with the inner serde's fast path (say
        # str.encode) it costs one Python call instead of three, about 0.15 us of the ~2 us a
        # final result costs to emit (bench/windowed.py).
        fast = self._fast_inner
        if fast is not None and value.__class__ is Windowed and value[0] is not None:
            try:
                return fast(value[0]) + _LONG.pack(value[1])
            except Exception:
                pass  # the full path names the problem
        if value is None:
            return None
        return _inner_bytes(self.inner, value) + _LONG.pack(value.start_ms)

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < _LONG.size:
            raise SerdeError(f"time-windowed key needs at least 8 bytes, got {len(data)}")
        (start,) = _LONG.unpack_from(data, len(data) - _LONG.size)
        key = self.inner.deserialize(data[: -_LONG.size])
        return Windowed.from_ms(key, start, start + self.window_size_ms)


class SessionWindowedSerde:
    """Inner key bytes + 8-byte end + 8-byte start (Kafka Streams' session key layout)."""

    def __init__(self, inner: str | Serde) -> None:
        self.inner = resolve_serde(inner)
        self.base_key_serde = self.inner
        self.name = f"session-windowed({self.inner.name})"

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        return _inner_bytes(self.inner, value) + _TWO_LONGS.pack(value.end_ms, value.start_ms)

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < _TWO_LONGS.size:
            raise SerdeError(f"session-windowed key needs at least 16 bytes, got {len(data)}")
        end, start = _TWO_LONGS.unpack_from(data, len(data) - _TWO_LONGS.size)
        key = self.inner.deserialize(data[: -_TWO_LONGS.size])
        return Windowed.from_ms(key, start, end)


class WindowedJsonSerde:
    """The window as a JSON object; the key must be JSON-able.

    Reads objects with ``start_ms``/``end_ms`` (exact) or only ``start``/``end`` (seconds).
    Its ``base_key_serde`` is JSON, but ``to()`` after a windowed aggregation partitions by the
    aggregation's key serde instead (the bytes Kafka Streams would hash), so switching an output
    topic between this format and Kafka Streams' layout keeps every key on its partition.
    """

    name = "windowed-json"

    def __init__(self) -> None:
        self._json = JsonSerde()
        self.base_key_serde: Serde = self._json

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Windowed):
            raise SerdeError(f"windowed serde expects a Windowed key, got {type(value).__name__}")
        return self._json.serialize(
            {"key": value.key, "start_ms": value.start_ms, "end_ms": value.end_ms} | value.to_dict()
        )

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        obj = self._json.deserialize(data)
        if not isinstance(obj, dict) or "key" not in obj:
            raise SerdeError(f"not a windowed JSON key (no object with a key): {data[:80]!r}")
        if "start_ms" in obj or "end_ms" in obj:
            start, end = _whole_ms(obj, "start_ms", data), _whole_ms(obj, "end_ms", data)
        else:
            start, end = _seconds_ms(obj, "start", data), _seconds_ms(obj, "end", data)
        if end < start:
            # Garbage, not a window: every window kstreamy writes ends at or after its start.
            raise SerdeError(f"windowed JSON key ends ({end}) before it starts ({start})")
        return Windowed.from_ms(obj["key"], start, end)


def _whole_ms(obj: dict[str, Any], field: str, data: bytes) -> int:
    """Exact milliseconds: a JSON integer, as written; anything else is named, not truncated."""
    value = obj.get(field)
    if type(value) is not int or not _MIN_MS <= value <= _MAX_MS:
        raise SerdeError(
            f"windowed JSON key field {field} must be a 64-bit integer, got {value!r}: "
            f"{data[:80]!r}"
        )
    return value


def _seconds_ms(obj: dict[str, Any], field: str, data: bytes) -> int:
    """Seconds (what people write) to ms; NaN, infinities and non-numbers are refused by name
    because ``int()`` would raise an error that does not say which record or field."""
    value = obj.get(field)
    ms = round(value * 1000) if type(value) is int or _finite(value) else None
    if ms is None or not _MIN_MS <= ms <= _MAX_MS:
        raise SerdeError(
            f"windowed JSON key field {field} must be a number of seconds within 64-bit "
            f"milliseconds, got {value!r}: {data[:80]!r}"
        )
    return ms


def _finite(value: Any) -> bool:
    return type(value) is float and math.isfinite(value * 1000)
