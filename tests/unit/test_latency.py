"""End-to-end latency histograms: bucket math, the quantile estimate, per-batch sampling."""

from __future__ import annotations

import pytest

from kstreamy.runtime.latency import (
    LATENCY_BUCKETS_MS,
    LatencyHistogram,
    RecentCounts,
    TaskLatency,
    quantile,
)


def _counts(**by_bound: int) -> list[int]:
    """Per-bucket counts from {"b<bound>": n} ("binf" for +Inf)."""
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for name, n in by_bound.items():
        bound = name[1:]
        index = len(LATENCY_BUCKETS_MS) if bound == "inf" else LATENCY_BUCKETS_MS.index(int(bound))
        counts[index] = n
    return counts


def test_observations_land_in_the_bucket_whose_upper_bound_holds_them():
    hist = LatencyHistogram()
    for ms in (0.5, 1, 1.01, 49, 50, 60_000, 60_001, -3):
        hist.observe(ms)
    assert hist.counts == _counts(b1=3, b2=1, b50=2, b60000=1, binf=1)  # -3 counts as 0
    assert hist.count == 8
    assert hist.sum_ms == pytest.approx(0.5 + 1 + 1.01 + 49 + 50 + 60_000 + 60_001)
    cumulative = hist.cumulative()
    assert cumulative[0] == ("0.001", 3)
    assert ("0.05", 6) in cumulative and ("60.0", 7) in cumulative
    assert cumulative[-1] == ("+Inf", 8)
    assert len(cumulative) == len(LATENCY_BUCKETS_MS) + 1


def test_quantile_interpolates_inside_the_bucket_like_histogram_quantile():
    # 10 samples in (10, 20], 10 in (50, 100]: the median is the top of the first bucket.
    counts = _counts(b20=10, b100=10)
    assert quantile(counts, 0.5) == pytest.approx(20.0)
    assert quantile(counts, 0.25) == pytest.approx(15.0)
    assert quantile(counts, 0.75) == pytest.approx(75.0)
    assert quantile(counts, 0.99) == pytest.approx(50 + 50 * 9.8 / 10)
    assert quantile(_counts(b1=4), 0.5) == pytest.approx(0.5)  # the first bucket starts at 0
    assert quantile(_counts(b5=1, binf=99), 0.99) == 60_000.0  # +Inf: the highest finite bound
    assert quantile(_counts(), 0.5) is None
    with pytest.raises(ValueError):
        quantile(counts, 1.5)


def test_a_batch_is_sampled_by_its_oldest_and_newest_records():
    latency = TaskLatency()
    latency.saw(1_000, 1_400)  # a run of one partition
    latency.saw(900, 950)  # another run of the same task in the batch
    latency.sent(2_000)
    send = latency.stages["send"]
    assert send.count == 2  # two samples for the batch, not one per record
    assert send.sum_ms == pytest.approx((2_000 - 900) + (2_000 - 1_400))
    assert latency.stages["commit"].count == 0  # nothing committed yet

    latency.saw(1_900, 1_900)
    latency.sent(2_010)
    assert send.count == 3  # oldest == newest: one sample

    latency.committed(2_500)  # the transaction holds both batches: oldest 900, newest 1900
    commit = latency.stages["commit"]
    assert commit.count == 2 and commit.sum_ms == pytest.approx(1_600 + 600)
    latency.committed(2_600)
    assert commit.count == 2  # nothing pending: nothing observed


def test_records_without_a_timestamp_are_not_sampled():
    latency = TaskLatency()
    latency.saw(-1, -1)
    latency.sent(5_000)
    assert latency.stages["send"].count == 0
    latency.saw(-1, 4_990)
    latency.sent(5_000)
    assert latency.stages["send"].counts == _counts(b10=1)


def test_recent_counts_forget_what_is_older_than_two_spans():
    recent = RecentCounts(span_s=60)
    key = ("0_0", "send")
    assert recent.since_baseline({key: [5, 0]}, now=0) == {key: [5, 0]}
    assert recent.since_baseline({key: [7, 1]}, now=30) == {key: [7, 1]}  # first span: all
    assert recent.since_baseline({key: [8, 1]}, now=61) == {key: [3, 1]}  # since t=0
    assert recent.since_baseline({key: [9, 4]}, now=122) == {key: [1, 3]}  # since t=61
    # The task was closed and created again: its counts restart below the baseline.
    assert recent.since_baseline({key: [0, 2]}, now=130) == {key: [0, 2]}
