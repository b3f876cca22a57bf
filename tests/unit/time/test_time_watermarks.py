"""Watermarks: per-partition minimum, out-of-orderness, idleness, upstream tasks, restarts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kstreamy.time import NO_WATERMARK, PartitionWatermarks, UpstreamWatermarks
from kstreamy.time.watermarks import TaskWatermark

P0, P1 = ("readings", 0), ("readings", 1)


def test_no_watermark_until_every_partition_has_data() -> None:
    marks = PartitionWatermarks([P0, P1])
    assert marks.current() == NO_WATERMARK
    marks.observe("readings", 0, 1_000)
    assert marks.current() == NO_WATERMARK
    marks.observe("readings", 1, 5_000)
    assert marks.current() == 1_000


def test_minimum_over_partitions_minus_out_of_orderness() -> None:
    marks = PartitionWatermarks([P0, P1, ("other", 0)], {"readings": 2_000})
    marks.observe("readings", 0, 10_000)
    marks.observe("readings", 1, 7_000)
    marks.observe("other", 0, 9_000)
    assert marks.current() == 5_000  # readings[1]: 7000 - 2000
    marks.observe("readings", 1, 12_000)
    assert marks.current() == 8_000  # readings[0]: 10000 - 2000
    marks.observe("readings", 0, 20_000)
    assert marks.current() == 9_000  # other[0]: no bound


def test_watermark_never_goes_back() -> None:
    marks = PartitionWatermarks([P0], 100)
    marks.observe("readings", 0, 1_000)
    marks.observe("readings", 0, 500)  # out of order: no effect
    assert marks.current() == 900


def test_idle_partition_stops_holding_back_until_data_returns() -> None:
    marks = PartitionWatermarks([P0, P1], idle_timeout_ms=1_000)
    marks.on_wall_clock(0)
    marks.observe("readings", 0, 50_000)
    assert marks.current() == NO_WATERMARK  # readings[1] has no data yet
    marks.on_wall_clock(600)
    marks.observe("readings", 0, 60_000)
    marks.on_wall_clock(999)
    assert marks.idle_partitions() == []
    marks.on_wall_clock(1_000)
    assert marks.idle_partitions() == [P1]
    assert marks.current() == 60_000
    assert not marks.is_idle()
    # Data returns on the idle partition, behind the watermark: it holds nothing back
    # retroactively (the watermark never decreases), but it does hold the watermark again.
    marks.observe("readings", 1, 10_000)
    assert marks.idle_partitions() == []
    marks.observe("readings", 0, 70_000)
    assert marks.current() == 60_000
    marks.observe("readings", 1, 65_000)
    assert marks.current() == 65_000


def test_all_idle_keeps_the_watermark() -> None:
    marks = PartitionWatermarks([P0, P1], idle_timeout_ms=10)
    marks.on_wall_clock(0)
    marks.observe("readings", 0, 100)
    marks.observe("readings", 1, 200)
    assert marks.current() == 100
    marks.on_wall_clock(5)
    marks.on_wall_clock(15)
    marks.on_wall_clock(25)
    assert marks.is_idle()
    assert marks.current() == 100


def test_never_idle_without_a_timeout() -> None:
    marks = PartitionWatermarks([P0, P1])
    marks.observe("readings", 0, 100)
    for now in range(0, 10**9, 10**8):
        marks.on_wall_clock(now)
    assert marks.current() == NO_WATERMARK


def test_checkpoint_round_trip_keeps_closed_windows_closed() -> None:
    marks = PartitionWatermarks([P0, P1], 1_000)
    marks.observe("readings", 0, 10_000)
    marks.observe("readings", 1, 20_000)
    saved = json.loads(json.dumps(marks.to_dict()))
    restored = PartitionWatermarks.from_dict(saved, [P0, P1], 1_000)
    assert restored.current() == 9_000
    restored.observe("readings", 0, 5_000)  # replayed input behind the saved state
    assert restored.current() == 9_000
    # A partition added since the checkpoint holds the watermark without moving it back.
    grown = PartitionWatermarks.from_dict(saved, [P0, P1, ("readings", 2)], 1_000)
    assert grown.current() == 9_000
    grown.observe("readings", 0, 30_000)
    grown.observe("readings", 1, 30_000)
    assert grown.current() == 9_000
    grown.observe("readings", 2, 15_000)
    assert grown.current() == 14_000


def test_bad_configuration_and_unknown_partitions() -> None:
    with pytest.raises(ValueError, match="idle_timeout_ms"):
        PartitionWatermarks([P0], idle_timeout_ms=0)
    with pytest.raises(ValueError, match="max_out_of_orderness"):
        PartitionWatermarks([P0], -1)
    with pytest.raises(ValueError, match="twice"):
        PartitionWatermarks([P0, P1, P0])
    with pytest.raises(KeyError, match="not an input partition"):
        PartitionWatermarks([P0]).observe("readings", 7, 1)
    with pytest.raises(ValueError, match="format"):
        PartitionWatermarks.from_dict({"format": 99, "watermark": 0}, [P0])


@given(
    events=st.lists(
        st.tuples(st.integers(0, 2), st.integers(-(10**6), 10**6)), min_size=1, max_size=60
    ),
    ooo=st.integers(0, 5_000),
)
def test_watermark_is_min_of_partition_maxima_and_monotonic(events, ooo) -> None:
    parts = [("t", p) for p in range(3)]
    marks = PartitionWatermarks(parts, ooo)
    maxima: dict[int, int] = {}
    previous = NO_WATERMARK
    for partition, ts in events:
        marks.observe("t", partition, ts)
        maxima[partition] = max(maxima.get(partition, ts), ts)
        now = marks.current()
        assert now >= previous
        if len(maxima) == 3:
            assert now == min(maxima.values()) - ooo
        else:
            assert now == NO_WATERMARK
        previous = now


def test_upstream_minimum_over_tasks_excluding_idle() -> None:
    marks = UpstreamWatermarks(["0_0", "0_1", "0_2"])
    marks.observe("0_0", 100)
    marks.observe("0_1", 300)
    assert marks.current() == NO_WATERMARK
    marks.observe("0_2", 200)
    assert marks.current() == 100
    marks.observe("0_0", 50, idle=True)
    assert marks.current() == 200
    marks.observe("0_2", 400)
    assert marks.current() == 300
    marks.observe("0_0", 350)  # active again
    assert marks.current() == 300
    marks.observe("0_1", 500)
    assert marks.current() == 350
    marks.observe("9_9", 10**9)
    assert marks.unknown_tasks == {"9_9"} and marks.current() == 350


def test_upstream_all_idle_and_restart() -> None:
    marks = UpstreamWatermarks(["1_0", "1_1"])
    marks.observe("1_0", 10, idle=True)
    assert marks.current() == NO_WATERMARK
    marks.observe("1_1", 20, idle=True)
    assert marks.is_idle() and marks.current() == NO_WATERMARK
    marks.observe("1_1", 30)
    assert marks.current() == 30
    saved = json.loads(json.dumps(marks.to_dict()))
    again = UpstreamWatermarks.from_dict(saved, ["1_0", "1_1"])
    assert again.current() == 30 and not again.is_idle()
    again.observe("1_1", 5)  # an upstream task restarted from an older checkpoint
    assert again.current() == 30
    with pytest.raises(ValueError):
        UpstreamWatermarks([])


def test_task_watermark_combines_sources() -> None:
    sources = PartitionWatermarks([P0], idle_timeout_ms=100)
    upstream = UpstreamWatermarks(["0_0"])
    task = TaskWatermark([sources, upstream])
    sources.observe("readings", 0, 1_000)
    assert task.current() == NO_WATERMARK
    upstream.observe("0_0", 700)
    assert task.current() == 700
    upstream.observe("0_0", 2_000)
    assert task.current() == 1_000
    sources.on_wall_clock(0)
    sources.on_wall_clock(100)
    assert task.current() == 2_000
    upstream.observe("0_0", 2_500, idle=True)
    assert task.is_idle() and task.current() == 2_000


@given(
    events=st.lists(
        st.tuples(st.integers(0, 2), st.integers(-(10**6), 10**6), st.booleans()),
        min_size=1,
        max_size=60,
    ),
    partitions=st.integers(1, 3),
    ooo=st.integers(0, 5_000),
    idle_timeout=st.sampled_from([None, 50]),
)
def test_observers_agree_with_observe(events, partitions, ooo, idle_timeout) -> None:
    parts = [("t", p) for p in range(partitions)]
    slow = PartitionWatermarks(parts, ooo, idle_timeout)
    fast = PartitionWatermarks(parts, ooo, idle_timeout)
    observers = [fast.observer("t", p) for p in range(partitions)]
    now = 0
    for partition, ts, tick in events:
        partition %= partitions
        if tick:
            now += 30
            slow.on_wall_clock(now)
            fast.on_wall_clock(now)
        expected = slow.observe("t", partition, ts)
        assert expected == slow.current()
        assert observers[partition](ts) == expected
        assert fast.current() == expected
        assert fast.idle_partitions() == slow.idle_partitions()
    assert fast.to_dict() == slow.to_dict()
