"""End-to-end latency of a task: from an input record's Kafka timestamp to when its outputs leave.

Two stages are measured, both against the input record's timestamp (``Message.timestamp()``):

- ``send``: the loop handed the outputs of the batch to the producer (visible to at-least-once
  readers once delivered);
- ``commit``: the transaction holding them committed (exactly-once readers see them only then).

Observing every record would add Python work per record to the hottest loop in the library, so
the loop samples instead: per run of records of one partition in a polled batch it reads the
first and the last record's timestamps (two calls on a C object per run, not per record). A
partition's timestamps rise with its offsets nearly always, so these are the batch's oldest and
newest records, and the latencies of all other records of the run lie between the two samples.
Quantiles of the samples therefore bracket the records' quantiles while costing one histogram
update per run boundary. The ``_count`` of the histogram counts samples, not records (records
are ``kstreamy_task_records_in_total``).

Bounds are fixed (milliseconds, exposed in seconds as Prometheus expects) so that histograms of
all instances and tasks add up in ``histogram_quantile(sum by (le) (...))``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

LATENCY_BUCKETS_MS: tuple[int, ...] = (
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1000,
    2000,
    5000,
    10000,
    30000,
    60000,
)
"""Upper bounds (ms) of the end-to-end latency histograms; one more (+Inf) counts the rest."""

STAGES = ("send", "commit")

_NONE = 2**63
"""No record seen: above every real timestamp, so ``min`` replaces it."""


class LatencyHistogram:
    """Counts per fixed bucket (not cumulative) and the sum, in ms; updated on the loop thread,
    read by the scrape thread and the status report (a torn read shows one sample less)."""

    __slots__ = ("counts", "sum_ms")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.sum_ms = 0.0

    def observe(self, ms: float) -> None:
        # A clock step or a producer's clock ahead of ours would give a negative latency: the
        # truth is "about none", and a negative value would only corrupt the sum.
        if ms < 0:
            ms = 0.0
        self.sum_ms += ms
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(``le`` label in seconds, cumulative count) per bucket, ``+Inf`` last."""
        bounds = [_seconds_label(b) for b in LATENCY_BUCKETS_MS] + ["+Inf"]
        out, total = [], 0
        for bound, count in zip(bounds, self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


def quantile(counts: Sequence[int], q: float) -> float | None:
    """Estimate the ``q`` quantile (ms) from per-bucket counts the way Prometheus'
    ``histogram_quantile`` does, so ``kstreamy status`` and the dashboard agree: linear inside
    the bucket that holds the rank, the first bucket starting at 0, and the highest finite
    bound when the rank falls in ``+Inf``. None without samples."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile is between 0 and 1, not {q}")
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i == len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            lower = 0.0 if i == 0 else float(LATENCY_BUCKETS_MS[i - 1])
            upper = float(LATENCY_BUCKETS_MS[i])
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])  # pragma: no cover - rank <= total always lands


class TaskLatency:
    """One task's two histograms and the oldest and newest timestamps not yet observed.

    The loop calls :meth:`saw` per run of records and :meth:`sent` once per batch; the commit
    manager calls :meth:`committed` after each commit. An aborted transaction needs no care:
    its records are processed again, their timestamps stay the pending oldest, and the commit
    that finally holds them measures how long they really took to become visible.
    """

    __slots__ = ("_batch_newest", "_batch_oldest", "_pending_newest", "_pending_oldest", "stages")

    def __init__(self) -> None:
        self.stages = {stage: LatencyHistogram() for stage in STAGES}
        self._batch_oldest = self._pending_oldest = _NONE
        self._batch_newest = self._pending_newest = -1

    def saw(self, first_ms: int, last_ms: int) -> None:
        """The first and last record timestamps of a run (negative: the record has none)."""
        if first_ms > last_ms:
            first_ms, last_ms = last_ms, first_ms
        if first_ms < 0:
            first_ms = last_ms
            if first_ms < 0:
                return
        if first_ms < self._batch_oldest:
            self._batch_oldest = first_ms
        if last_ms > self._batch_newest:
            self._batch_newest = last_ms

    def sent(self, now_ms: float) -> None:
        """The batch's outputs are with the producer."""
        oldest, newest = self._batch_oldest, self._batch_newest
        if newest < 0:
            return
        _observe_span(self.stages["send"], now_ms, oldest, newest)
        if oldest < self._pending_oldest:
            self._pending_oldest = oldest
        if newest > self._pending_newest:
            self._pending_newest = newest
        self._batch_oldest, self._batch_newest = _NONE, -1

    def committed(self, now_ms: float) -> None:
        """A transaction holding everything sent so far committed (exactly-once only: under
        at-least-once outputs are visible from their send, and this is never called)."""
        oldest, newest = self._pending_oldest, self._pending_newest
        self._pending_oldest, self._pending_newest = _NONE, -1
        if newest < 0:
            return
        _observe_span(self.stages["commit"], now_ms, oldest, newest)


def _observe_span(histogram: LatencyHistogram, now_ms: float, oldest: float, newest: float) -> None:
    """The oldest and newest record of a span stand for all of it (one sample if they agree)."""
    histogram.observe(now_ms - oldest)
    if newest != oldest:
        histogram.observe(now_ms - newest)


def _seconds_label(ms: int) -> str:
    return repr(ms / 1000)


class RecentCounts:
    """Bucket counts over roughly the last one or two minutes, for ``kstreamy status``.

    Lifetime quantiles would hide a slowdown behind hours of good history. Keeping a baseline
    that moves every ``span_s`` costs one list copy per histogram per span, instead of a ring of
    timed samples; the window is then between one and two spans long.
    """

    def __init__(self, span_s: float = 60.0) -> None:
        self.span_s = span_s
        self._baseline: dict[object, list[int]] = {}
        self._next: dict[object, list[int]] = {}
        self._rotated_at: float | None = None

    def since_baseline(
        self, current: dict[object, list[int]], now: float
    ) -> dict[object, list[int]]:
        """Per key, the counts added since the baseline (all of them for a key new to it)."""
        if self._rotated_at is None:
            self._rotated_at = now
        elif now - self._rotated_at >= self.span_s:
            self._baseline, self._rotated_at = self._next, now
            self._next = {key: list(counts) for key, counts in current.items()}
        for key, counts in current.items():
            self._next.setdefault(key, list(counts))
        out = {}
        for key, counts in current.items():
            base = self._baseline.get(key)
            delta = counts if base is None else [c - b for c, b in zip(counts, base, strict=True)]
            # A task closed and created again starts from zero: its old baseline does not apply.
            out[key] = list(counts) if min(delta) < 0 else delta
        return out
