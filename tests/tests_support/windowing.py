"""A harness around a windowed aggregation: an in-memory store, commits, aborts, outputs."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from kstreamy.runtime.windowed import WindowedAggregation, counting, windowed_aggregation
from kstreamy.state import InMemoryStore, StoreTransaction
from kstreamy.time import NO_WATERMARK
from kstreamy.windows import WindowDefinition, Windowed

_LONG = struct.Struct(">q")


@dataclass
class Output:
    window: Windowed
    value: Any
    ts_ms: int
    watermark: int  # the watermark when it was forwarded


@dataclass
class Late:
    key: Any
    value: Any
    ts_ms: int
    window: Windowed
    watermark: int


def _collect(key: Any, value: Any, acc: list) -> list:
    return sorted([*acc, value])


def _merge(key: Any, a: list, b: list) -> list:
    return sorted(a + b)


@dataclass
class Harness:
    """Feeds records with a watermark of ``max ts - ooo`` and keeps committed outputs.

    The default aggregate is the sorted list of values, so results say exactly which records
    each window holds; ``count=True`` uses the built-in count instead.
    """

    windows: WindowDefinition
    emit_final: bool = False
    ooo: int = 0
    count: bool = False
    retention_ms: int = 0
    cache_size: int = 10_000
    store: InMemoryStore = field(default_factory=lambda: InMemoryStore("windows"))
    outputs: list[Output] = field(default_factory=list)
    late: list[Late] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.txn = StoreTransaction(self.store, "app-windows-changelog", 0)
        self.watermark = NO_WATERMARK
        self._max_ts: int | None = None
        self._pending_outputs: list[Output] = []
        self._pending_late: list[Late] = []
        self.agg = self._build()

    def _build(self) -> WindowedAggregation:
        if self.count:
            fold = counting()
            codec = {"encode": _LONG.pack, "decode": lambda raw: _LONG.unpack(raw)[0]}
        else:
            fold = counting()._replace(aggregator=_collect, merger=_merge, initializer=list)
            codec = {"encode": lambda v: json.dumps(v).encode(), "decode": json.loads}
        return windowed_aggregation(
            self.txn,
            self.windows,
            initializer=fold.initializer,
            aggregator=fold.aggregator,
            merger=fold.merger,
            decode_key=bytes.decode,
            forward=self._forward,
            on_late=self._on_late,
            emit_final=self.emit_final,
            retention_ms=self.retention_ms,
            cache_size=self.cache_size,
            **codec,
        )

    def _forward(self, window: Windowed, value: Any, ts_ms: int) -> None:
        self._pending_outputs.append(Output(window, value, ts_ms, self.watermark))

    def _on_late(self, key: Any, value: Any, ts_ms: int, window: Windowed, wm: int) -> None:
        self._pending_late.append(Late(key, value, ts_ms, window, wm))

    # driving -------------------------------------------------------------------------------
    def send(self, key: str, ts_ms: int, value: Any = None) -> int:
        """Process one record, then advance the watermark; returns the watermark it saw."""
        seen = self.watermark
        self.agg.process(key, key.encode(), ts_ms if value is None else value, ts_ms, seen)
        self._max_ts = ts_ms if self._max_ts is None else max(self._max_ts, ts_ms)
        self.advance(self._max_ts - self.ooo)
        return seen

    def advance(self, watermark: int) -> None:
        if watermark > self.watermark:
            self.watermark = watermark
            self.agg.on_watermark(watermark)

    def commit(self) -> None:
        self.agg.flush()
        self.txn.apply()
        self.outputs += self._pending_outputs
        self.late += self._pending_late
        self._pending_outputs, self._pending_late = [], []
        self._saved = (self.watermark, self._max_ts)

    def abort(self, rebuild: bool = False) -> None:
        """Drop everything since the last commit, as an aborted transaction would."""
        self.txn.discard()
        if rebuild:
            self.agg = self._build()
        else:
            self.agg.discard()
        self._pending_outputs, self._pending_late = [], []
        self.watermark, self._max_ts = getattr(self, "_saved", (NO_WATERMARK, None))

    def close_all(self) -> None:
        self.advance(1 << 62)
        self.commit()

    # reading -------------------------------------------------------------------------------
    def latest(self) -> dict[tuple[str, int, int], Any]:
        """The last value forwarded per window; windows whose last value is None are gone."""
        last: dict[tuple[str, int, int], Any] = {}
        for out in self.outputs:
            last[out.window.key, out.window.start_ms, out.window.end_ms] = out.value
        return {w: v for w, v in last.items() if v is not None}

    def finals(self) -> dict[tuple[str, int, int], Any]:
        result = {}
        for out in self.outputs:
            window = (out.window.key, out.window.start_ms, out.window.end_ms)
            assert window not in result, f"window {window} emitted twice"
            result[window] = out.value
        return result
