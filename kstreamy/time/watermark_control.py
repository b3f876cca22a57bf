"""Watermark control records on repartition topics.

A task downstream of a repartition topic cannot derive a watermark from the records it reads:
they come from N upstream tasks, each with its own progress, interleaved in no particular
order. So every upstream task periodically writes a *control record* to every partition of
the repartition topic, saying "my watermark is W" (or "I am idle"), and the downstream task
takes the minimum over the upstream tasks (:class:`~kstreamy.time.watermarks.UpstreamWatermarks`).
This is how Flink forwards watermarks between operators, carried in-band so it works across
processes with nothing but Kafka.

Format: a record with no key and no value, and one header ``kstreamy.watermark`` whose value
is::

    byte 0      format version (1)
    byte 1      flags; bit 0 = the producing task is idle
    bytes 2-9   watermark in ms, 8-byte big-endian signed
    bytes 10-   producing task id, UTF-8 (for example "0_3")

A consumer must check for the header before deserializing a record from a repartition topic;
control records are never given to user code. Binary rather than JSON because every upstream
task writes one per downstream partition per interval, and they are never read by people.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

__all__ = [
    "WATERMARK_HEADER",
    "WatermarkControl",
    "decode_watermark",
    "encode_watermark",
    "watermark_headers",
]

WATERMARK_HEADER = "kstreamy.watermark"
_VERSION = 1
_IDLE = 0x01
_FIXED = struct.Struct(">BBq")


@dataclasses.dataclass(frozen=True)
class WatermarkControl:
    """One upstream task's progress: its watermark (ms) and whether it is idle."""

    task_id: str
    watermark_ms: int
    idle: bool = False


def encode_watermark(task_id: str, watermark_ms: int, idle: bool = False) -> bytes:
    """The header value of a control record."""
    if not task_id:
        raise ValueError("a watermark control record needs the producing task id")
    return _FIXED.pack(_VERSION, _IDLE if idle else 0, watermark_ms) + task_id.encode()


def watermark_headers(
    task_id: str, watermark_ms: int, idle: bool = False
) -> list[tuple[str, bytes]]:
    """The headers of a control record (its key and value are None)."""
    return [(WATERMARK_HEADER, encode_watermark(task_id, watermark_ms, idle))]


def decode_watermark(headers: Sequence[tuple[str, bytes | None]] | None) -> WatermarkControl | None:
    """The control carried by a record's headers, or None for an ordinary record.

    Raises ValueError for a header that is present but unreadable (a newer format version or
    corrupted bytes): treating it as data would hand garbage to user code.
    """
    if not headers:
        return None
    for name, value in headers:
        if name != WATERMARK_HEADER:
            continue
        if value is None or len(value) <= _FIXED.size:
            raise ValueError(f"watermark control header too short: {value!r}")
        version, flags, watermark = _FIXED.unpack_from(value)
        if version != _VERSION:
            raise ValueError(f"unsupported watermark control format version {version}")
        try:
            task_id = value[_FIXED.size :].decode()
        except UnicodeDecodeError as exc:
            raise ValueError(f"watermark control task id is not UTF-8: {exc}") from exc
        return WatermarkControl(task_id, watermark, bool(flags & _IDLE))
    return None
