"""Compiled form of a stream-stream windowed join (Kafka Streams' KStream-KStream join).

A join has two side nodes, one per input, in one sub-topology (they share both stores). Per
task they share one :class:`WindowedJoin`: the side nodes hand it their records, and it alone
watches the watermark, so unmatched results of both sides come out in event-time order.

A record of one side at ``t`` is joined at once with every record of the other side in its
window (:class:`~kstreamy.windows.JoinWindows`), then kept in its side's window store until its
window closes. The store entry *is* the record's window: start ``t - before``, end
``t + after + 1`` (``after`` and ``before`` swap for the right side), so the store's time index
orders entries by close time and one range scan finds every entry to close. Closing an entry
emits its unmatched result (left join: left entries; outer join: both) if nothing joined it,
and deletes it: its records can join nothing any more, so retention is the window itself.

Where kstreamy differs from Kafka Streams, and why:

* A record behind the watermark past grace (``t < watermark - grace``) is late: counted or
  routed like a late record of a windowed aggregation. Kafka Streams still joins such records
  while its store retains the other side (before + after + grace) and may then emit a match
  for a record whose unmatched result it already emitted. Rejecting them is what guarantees
  that an unmatched result is final.
* Unmatched results wait for the task's watermark, which is the minimum over both inputs (as
  in Flink), not the largest time seen on either (Kafka Streams' stream time): a left join
  whose right input is quiet emits unmatched results once the right input moves or is idle
  (``idle_timeout`` on the stream).
* The watermark a join acted on is kept in its store, so a task that moves to another
  instance does not take records that were late before the move.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.runtime.late_records import LateRecords, NullDrops
from kstreamy.state import join_records
from kstreamy.state.meta_names import JOIN_WATERMARK_META
from kstreamy.state.window_store import MIN_TIME, WindowStore, decode_time, encode_time
from kstreamy.topology import Node
from kstreamy.windows import JoinWindows, Windowed

if TYPE_CHECKING:
    from kstreamy.runtime.compiler import Compiler, Forward

__all__ = ["JOIN_WATERMARK_META", "WindowedJoin", "compile_stream_join_side"]

_UNKNOWN = object()


class JoinSide:
    """One input of a join: its window store and where its records' windows lie."""

    def __init__(
        self,
        store: WindowStore,
        before_ms: int,
        after_ms: int,
        decode: Callable[[bytes], Any],
        encode: Callable[[Any], bytes],
        left: bool,
        emits_unmatched: bool,
    ) -> None:
        self.store = store
        self.before = before_ms
        self.after = after_ms
        self.decode = decode
        self.encode = encode
        self.left = left
        self.emits_unmatched = emits_unmatched
        self.min_end: Any = _UNKNOWN
        """No entry of the store ends before this (None: the store is empty); an in-memory
        hint that spares a range scan when the watermark moves but closes nothing here."""
        self.on_late: Callable[..., None] = lambda *args: None
        self.on_null: Callable[[str], None] = lambda where: None


class WindowedJoin:
    """The join logic of one task, over the two sides' window stores."""

    def __init__(
        self,
        this: JoinSide,
        other: JoinSide,
        window: JoinWindows,
        joiner: Callable[[Any, Any], Any],
        serialize_key: Callable[[Any], bytes | None],
        deserialize_key: Callable[[bytes], Any],
        compiler: Compiler,
        downstream: Forward,
    ) -> None:
        self.this = this
        self.other = other
        self._span = window.span_ms
        self._grace = window.grace_ms
        self._joiner = joiner
        self._serialize_key = serialize_key
        self._deserialize_key = deserialize_key
        self._ctx = compiler.ctx
        self._clock = compiler.clock
        self._downstream = downstream
        self._acted: Any = _UNKNOWN
        """The largest watermark this join has closed windows for (kept in the this-store's
        metadata, so it survives restarts and task moves)."""

    # -- records ---------------------------------------------------------------------------

    def process(self, side: JoinSide, other: JoinSide, key: Any, value: Any) -> None:
        ctx = self._ctx
        if key is None or value is None:
            side.on_null(ctx.where())
            return
        ts = ctx.timestamp_ms
        watermark = self._watermark()
        if ts < watermark - self._grace:
            window = Windowed.from_ms(key, ts - side.before, ts + side.after + 1)
            side.on_late(key, value, ts, window, watermark)
            return
        raw_key = self._serialize_key(key)
        joiner, decode = self._joiner, other.decode
        # A list first: the loop writes to the store it reads and calls downstream steps.
        partners = list(other.store.fetch(raw_key, ts - self._span, ts))
        for start, _end, entry in partners:
            partner_ts = start + other.before
            when = ts if ts >= partner_ts else partner_ts
            for raw in join_records.decode(entry):
                partner = decode(raw)
                result = joiner(value, partner) if side.left else joiner(partner, value)
                self._forward(key, result, when)
            if other.emits_unmatched and not join_records.is_matched(entry):
                other.store.put(raw_key, start, join_records.mark_matched(entry))
        matched = bool(partners)
        end = ts + side.after + 1
        if end + self._grace <= watermark:
            # Only with a negative boundary: the record's window closed before it arrived, so
            # nothing can join it later; it is final now.
            if not matched and side.emits_unmatched:
                self._forward(key, self._unmatched(side, value), ts)
            return
        start = ts - side.before
        store = side.store
        own = side.encode(value)
        store.put(raw_key, start, join_records.append(store.get(raw_key, start), own, matched))
        if side.min_end is None or (side.min_end is not _UNKNOWN and end < side.min_end):
            side.min_end = end

    def _unmatched(self, side: JoinSide, value: Any) -> Any:
        return self._joiner(value, None) if side.left else self._joiner(None, value)

    def _forward(self, key: Any, value: Any, ts_ms: int) -> None:
        ctx = self._ctx
        saved = ctx.timestamp_ms
        ctx.timestamp_ms = ts_ms
        try:
            self._downstream(key, value)
        finally:
            ctx.timestamp_ms = saved

    # -- time ------------------------------------------------------------------------------

    def _acted_on(self) -> int:
        acted = self._acted
        if acted is _UNKNOWN:
            raw = self.this.store.get_meta(JOIN_WATERMARK_META)
            acted = self._acted = MIN_TIME if raw is None else decode_time(raw)
        return acted

    def _watermark(self) -> int:
        """The task's watermark, or the one this join last acted on if that is later (after a
        restart or a move the task's clock starts again from nothing)."""
        acted = self._acted_on()
        current = self._clock.current
        return current if current > acted else acted

    def on_watermark(self, watermark: int) -> None:
        """Close every entry whose window ended by ``watermark`` minus grace: emit the
        unmatched results that are due, oldest first, and drop the entries."""
        if watermark <= self._acted_on():
            return
        self._acted = watermark
        self.this.store.put_meta(JOIN_WATERMARK_META, encode_time(watermark))
        bound = watermark - self._grace + 1  # entries with end + grace <= watermark
        due: list[tuple[int, int, bytes, JoinSide, bytes]] = []
        for order, side in enumerate((self.this, self.other)):
            if side.min_end is _UNKNOWN:
                side.min_end = side.store.first_end()
            if side.min_end is None or side.min_end >= bound:
                continue
            store = side.store
            for raw_key, start, _end, entry in store.ending_between(MIN_TIME, bound):
                store.delete(raw_key, start)
                if side.emits_unmatched and not join_records.is_matched(entry):
                    due.append((start + side.before, order, raw_key, side, entry))
            side.min_end = store.first_end(bound)
        due.sort(key=lambda item: (item[0], item[1]))
        for ts, _order, raw_key, side, entry in due:
            key = self._deserialize_key(raw_key)
            for raw in join_records.decode(entry):
                self._forward(key, self._unmatched(side, side.decode(raw)), ts)

    def discard(self) -> None:
        """The task's uncommitted writes were dropped: forget the hints taken from them."""
        self.this.min_end = self.other.min_end = _UNKNOWN
        self._acted = _UNKNOWN


_JOINS: weakref.WeakKeyDictionary[Compiler, dict[str, WindowedJoin]] = weakref.WeakKeyDictionary()


def _windowed_join(compiler: Compiler, node: Node, downstream: Forward) -> WindowedJoin:
    """The task's one :class:`WindowedJoin` for this join, built by whichever side compiles
    first (both sides have the same downstream: the join's merge step)."""
    params = node.params
    joins = _JOINS.setdefault(compiler, {})
    join = joins.get(params["this_store"])
    if join is not None:
        return join
    window: JoinWindows = params["window"]
    how = params["how"]
    sides = []
    for store_name, left in ((params["this_store"], True), (params["other_store"], False)):
        spec = compiler.stores[store_name]
        before, after = (
            (window.before_ms, window.after_ms) if left else (window.after_ms, window.before_ms)
        )
        values = spec.value_serde.inner
        sides.append(
            JoinSide(
                WindowStore(compiler.transaction(store_name), window.span_ms + 1),
                before,
                after,
                values.deserialize,
                values.serialize,
                left,
                how == "outer" or (left and how == "left"),
            )
        )
    keys = compiler.stores[params["this_store"]].key_serde
    join = WindowedJoin(
        sides[0],
        sides[1],
        window,
        params["joiner"],
        keys.serialize,
        keys.deserialize,
        compiler,
        downstream,
    )
    compiler.clock.subscribe(join.on_watermark)
    compiler.on_discard.append(join.discard)
    joins[params["this_store"]] = join
    return join


def compile_stream_join_side(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    join = _windowed_join(compiler, node, downstream)
    this = node.params["side"] == "this"
    side, other = (join.this, join.other) if this else (join.other, join.this)
    side.on_late = LateRecords(compiler, node, node.params.get("late_topic"))
    side.on_null = NullDrops(node)
    process = join.process

    def stream_join_side(key: Any, value: Any) -> None:
        process(side, other, key, value)

    return stream_join_side
