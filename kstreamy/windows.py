"""Window definitions: which windows a record falls in, and when a window closes.

The public API speaks seconds (floats), like the rest of kstreamy: ``Tumbling(60.0, grace=2.0)``.
Everything is converted to integer milliseconds once, here, because event times are Kafka
record timestamps (ms) and float arithmetic on window bounds would make two records of the same
millisecond land in different windows.

Semantics follow Kafka Streams' window types; closing follows Flink's watermark model:

* ``Tumbling(size)`` and ``Hopping(size, advance)`` are Kafka Streams' ``TimeWindows``: aligned
  to the epoch, ``[start, start + size)`` with an exclusive end.
* ``Sliding(time_difference)`` is Kafka Streams' ``SlidingWindows``: a window
  ``[start, start + time_difference]`` with an *inclusive* end exists only where a record enters
  or leaves it (each record ``t`` creates ``[t - diff, t]`` and, when later records need it,
  ``[t + 1, t + 1 + diff]``). Which windows a record falls in depends on the other records, so
  :meth:`Sliding.windows_for` only names the window the record itself creates.
* ``Session(gap)`` is Kafka Streams' ``SessionWindows``: ``[first, last]`` inclusive, merged
  when a record falls within ``gap`` of a session.

:meth:`close_time` is the first watermark at which a window is closed: a record that would
update a closed window is late. With ``grace = 0`` and no out-of-orderness, a tumbling window
``[0, 60000)`` closes when a record at 60000 arrives, as in Kafka Streams.

Where kstreamy differs (see also docs/event-time.md):

* Negative window starts are allowed. Kafka Streams drops hopping windows that would start
  before the epoch and puts records earlier than ``time_difference`` into one ``[0, diff]``
  sliding window, because its timestamps are non-negative; kstreamy's timestamps are signed
  64-bit milliseconds, so windows near the epoch behave like windows anywhere else.
* The watermark is "every record before W has been seen" (Flink's ``W`` means "up to and
  including W", which is why Flink's bounded-out-of-orderness generator subtracts 1). A
  kstreamy watermark therefore equals Flink's plus one, and the close rule
  ``watermark >= end + grace`` (exclusive end) is Flink's ``maxTimestamp + lateness <= W``.
"""

from __future__ import annotations

import dataclasses
import math
from operator import itemgetter
from typing import Any

from kstreamy.errors import ConfigError

__all__ = [
    "Hopping",
    "InvalidWindowError",
    "JoinWindows",
    "Session",
    "Sliding",
    "TimeWindows",
    "Tumbling",
    "WindowDefinition",
    "Windowed",
]

_MAX_MS = (1 << 62) - 1  # leaves headroom so start + size + grace never overflows 64 bits


class InvalidWindowError(ConfigError, ValueError):
    """A window definition has an impossible size, advance, gap or grace."""


def _to_ms(what: str, seconds: Any, *, positive: bool) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise InvalidWindowError(f"{what} must be a number of seconds, got {seconds!r}")
    if not math.isfinite(seconds):
        raise InvalidWindowError(f"{what} must be finite, got {seconds!r}")
    exact = seconds * 1000
    ms = round(exact)
    if abs(exact - ms) > 1e-6 * max(1.0, abs(exact)):
        raise InvalidWindowError(
            f"{what} must be a whole number of milliseconds, got {seconds!r} s"
        )
    if ms < 0 or (positive and ms == 0):
        need = "positive" if positive else "zero or positive"
        raise InvalidWindowError(f"{what} must be {need}, got {seconds!r} s")
    if ms > _MAX_MS:
        raise InvalidWindowError(f"{what} is too large: {seconds!r} s")
    return ms


@dataclasses.dataclass(frozen=True)
class Tumbling:
    """Fixed-size, non-overlapping windows ``[k * size, (k + 1) * size)``."""

    size: float
    grace: float = 0.0
    size_ms: int = dataclasses.field(init=False, repr=False)
    grace_ms: int = dataclasses.field(init=False, repr=False)

    kind = "tumbling"
    inclusive_end = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "size_ms", _to_ms("tumbling window size", self.size, positive=True)
        )
        object.__setattr__(self, "grace_ms", _to_ms("grace", self.grace, positive=False))

    @property
    def advance_ms(self) -> int:
        return self.size_ms

    def windows_for(self, ts_ms: int) -> list[tuple[int, int]]:
        """The one window holding ``ts_ms``, as ``(start_ms, end_ms)`` with an exclusive end."""
        start = ts_ms - ts_ms % self.size_ms  # floor division: right for negative times too
        return [(start, start + self.size_ms)]

    def close_time(self, window_end_ms: int) -> int:
        """The first watermark at which the window ending at ``window_end_ms`` is closed."""
        return window_end_ms + self.grace_ms


@dataclasses.dataclass(frozen=True)
class Hopping:
    """Fixed-size windows every ``advance``: ``[k * advance, k * advance + size)``.

    A record falls in ``ceil(size / advance)`` windows (fewer when ``advance`` does not divide
    ``size``). ``advance == size`` is a tumbling window.
    """

    size: float
    advance: float
    grace: float = 0.0
    size_ms: int = dataclasses.field(init=False, repr=False)
    advance_ms: int = dataclasses.field(init=False, repr=False)
    grace_ms: int = dataclasses.field(init=False, repr=False)

    kind = "hopping"
    inclusive_end = False

    def __post_init__(self) -> None:
        size = _to_ms("hopping window size", self.size, positive=True)
        advance = _to_ms("hopping window advance", self.advance, positive=True)
        if advance > size:
            raise InvalidWindowError(
                f"hopping window advance ({self.advance!r} s) must not exceed its size "
                f"({self.size!r} s): records between windows would belong to none"
            )
        object.__setattr__(self, "size_ms", size)
        object.__setattr__(self, "advance_ms", advance)
        object.__setattr__(self, "grace_ms", _to_ms("grace", self.grace, positive=False))

    def windows_for(self, ts_ms: int) -> list[tuple[int, int]]:
        """Every window holding ``ts_ms``, by increasing start; ends are exclusive."""
        size, advance = self.size_ms, self.advance_ms
        last = ts_ms - ts_ms % advance
        first = last - (size - 1 - (ts_ms - last)) // advance * advance
        return [(start, start + size) for start in range(first, last + 1, advance)]

    def close_time(self, window_end_ms: int) -> int:
        """The first watermark at which the window ending at ``window_end_ms`` is closed."""
        return window_end_ms + self.grace_ms


@dataclasses.dataclass(frozen=True)
class Sliding:
    """Kafka Streams' sliding windows: records at most ``time_difference`` apart aggregate
    together, and a window exists only where its content differs from its neighbours'.

    Windows are ``[start, start + time_difference]``, inclusive on both ends; the stored and
    emitted ``end`` is that inclusive last millisecond, as in Kafka Streams.
    """

    time_difference: float
    grace: float = 0.0
    size_ms: int = dataclasses.field(init=False, repr=False)
    grace_ms: int = dataclasses.field(init=False, repr=False)

    kind = "sliding"
    inclusive_end = True

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "size_ms",
            _to_ms("sliding window time_difference", self.time_difference, positive=True),
        )
        object.__setattr__(self, "grace_ms", _to_ms("grace", self.grace, positive=False))

    @property
    def time_difference_ms(self) -> int:
        return self.size_ms

    def windows_for(self, ts_ms: int) -> list[tuple[int, int]]:
        """The window a record at ``ts_ms`` creates, ``[ts - diff, ts]`` (inclusive end).

        The record also belongs to every existing window it falls in, and may create the
        window right after an earlier record; only the aggregation, which sees the other
        records, knows those.
        """
        return [(ts_ms - self.size_ms, ts_ms)]

    def close_time(self, window_end_ms: int) -> int:
        """The first watermark at which the window with inclusive end ``window_end_ms`` is
        closed (one millisecond later than for an exclusive end)."""
        return window_end_ms + 1 + self.grace_ms


@dataclasses.dataclass(frozen=True)
class Session:
    """Sessions of activity separated by more than ``gap`` of inactivity.

    A session is ``[first record, last record]``, inclusive. It closes once no record can
    extend it any more: ``gap`` after its last record, plus ``grace`` (as Kafka Streams 3.x).
    """

    gap: float
    grace: float = 0.0
    gap_ms: int = dataclasses.field(init=False, repr=False)
    grace_ms: int = dataclasses.field(init=False, repr=False)

    kind = "session"
    inclusive_end = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "gap_ms", _to_ms("session gap", self.gap, positive=True))
        object.__setattr__(self, "grace_ms", _to_ms("grace", self.grace, positive=False))

    def close_time(self, window_end_ms: int) -> int:
        """The first watermark at which a session ending (inclusively) at ``window_end_ms``
        can no longer be extended or merged."""
        return window_end_ms + self.gap_ms + self.grace_ms + 1


TimeWindows = Tumbling | Hopping | Sliding
WindowDefinition = Tumbling | Hopping | Sliding | Session


class Windowed(tuple):
    """The key of a windowed result: the grouping key and the window.

    ``start``/``end`` are seconds (floats), like every public time in kstreamy; ``start_ms``
    and ``end_ms`` are the exact integer milliseconds. ``end`` is exclusive for tumbling and
    hopping windows and inclusive for sliding and session windows, as in Kafka Streams.

    It is an immutable 3-tuple ``(key, start_ms, end_ms)`` (so it is cheap to make once per
    result, hashable, and unpacks to exact times); build it from seconds with
    ``Windowed(key, start, end)`` or from milliseconds with :meth:`from_ms`.
    """

    __slots__ = ()

    def __new__(cls, key: Any, start: float, end: float) -> Windowed:
        return tuple.__new__(cls, (key, round(start * 1000), round(end * 1000)))

    @classmethod
    def from_ms(cls, key: Any, start_ms: int, end_ms: int) -> Windowed:
        """Build from integer milliseconds (what the runtime has) without float round trips."""
        return tuple.__new__(cls, (key, start_ms, end_ms))

    key = property(itemgetter(0), doc="The grouping key.")
    start_ms = property(itemgetter(1), doc="Window start, ms.")
    end_ms = property(itemgetter(2), doc="Window end, ms.")

    @property
    def start(self) -> float:
        return self[1] / 1000

    @property
    def end(self) -> float:
        return self[2] / 1000

    def to_dict(self) -> dict[str, Any]:
        """The JSON-friendly form: ``{"key": ..., "start": seconds, "end": seconds}``."""
        return {"key": self[0], "start": self[1] / 1000, "end": self[2] / 1000}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Windowed:
        return cls(data["key"], data["start"], data["end"])

    def __repr__(self) -> str:
        return f"Windowed(key={self[0]!r}, start={self.start!r}, end={self.end!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Windowed.from_ms, tuple(self))


def _signed_ms(what: str, seconds: Any) -> int:
    """Like :func:`_to_ms`, but a join boundary may be negative (see :class:`JoinWindows`)."""
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds < 0:
        return -_to_ms(what, -seconds, positive=False)
    return _to_ms(what, seconds, positive=False)


@dataclasses.dataclass(frozen=True)
class JoinWindows:
    """How far apart in event time two records of a stream-stream join may be (Kafka Streams'
    ``JoinWindows``).

    A record of the left stream at ``t`` joins every record of the right stream with the same
    key and a time in ``[t - before, t + after]`` (both ends inclusive); a right record at
    ``t`` looks at left records in ``[t - after, t + before]``. ``JoinWindows.of(diff)`` is
    the symmetric window (``before = after = diff``). One boundary may be negative as long as
    ``before + after >= 0``, as in Kafka Streams: ``JoinWindows(before=-5.0, after=10.0)``
    joins right records 5 to 10 seconds after the left one.

    ``grace`` is how long, in event time, a record may arrive behind the watermark and still
    join. A record's window closes once the watermark passes its inclusive end plus grace
    (:meth:`close_time`); only then is a left or outer join's unmatched result emitted, so it
    is never followed by a match. The default grace is 0 (Kafka Streams'
    ``ofTimeDifferenceWithNoGrace``), not the 24 hours of its deprecated ``JoinWindows.of``.
    """

    before: float
    after: float
    grace: float = 0.0
    before_ms: int = dataclasses.field(init=False, repr=False)
    after_ms: int = dataclasses.field(init=False, repr=False)
    grace_ms: int = dataclasses.field(init=False, repr=False)

    kind = "join"

    def __post_init__(self) -> None:
        before = _signed_ms("join window before", self.before)
        after = _signed_ms("join window after", self.after)
        if before + after < 0:
            raise InvalidWindowError(
                f"join window before ({self.before!r} s) + after ({self.after!r} s) must not be "
                "negative: no record would ever be in the other's window"
            )
        object.__setattr__(self, "before_ms", before)
        object.__setattr__(self, "after_ms", after)
        object.__setattr__(self, "grace_ms", _to_ms("grace", self.grace, positive=False))

    @classmethod
    def of(cls, time_difference: float, grace: float = 0.0) -> JoinWindows:
        """Records at most ``time_difference`` seconds apart join, whichever comes first
        (Kafka Streams' ``ofTimeDifferenceAndGrace``)."""
        return cls(time_difference, time_difference, grace)

    @property
    def span_ms(self) -> int:
        """``before + after``: the width of a record's join window minus one millisecond."""
        return self.before_ms + self.after_ms

    def close_time(self, ts_ms: int, left: bool = True) -> int:
        """The first watermark at which the window of a record at ``ts_ms`` is closed: no
        record of the other side that could join it can arrive any more.

        The window's end ``ts + after`` (``ts + before`` for a right record) is inclusive, so
        it closes one millisecond after it, plus grace (Kafka Streams emits an unmatched
        result when stream time is past ``ts + after + grace``, the same instant).
        """
        return ts_ms + (self.after_ms if left else self.before_ms) + 1 + self.grace_ms
