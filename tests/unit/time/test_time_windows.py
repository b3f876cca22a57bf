"""Window definitions: validation, which windows hold a timestamp, close times, Windowed."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kstreamy.errors import ConfigError
from kstreamy.windows import (
    Hopping,
    InvalidWindowError,
    Session,
    Sliding,
    Tumbling,
    Windowed,
)

TIMES = st.integers(min_value=-(10**13), max_value=10**13)


def test_seconds_become_milliseconds() -> None:
    w = Tumbling(60.0, grace=2.5)
    assert (w.size_ms, w.grace_ms, w.advance_ms) == (60_000, 2_500, 60_000)
    h = Hopping(10, 2.5)
    assert (h.size_ms, h.advance_ms, h.grace_ms) == (10_000, 2_500, 0)
    assert Sliding(5.0).time_difference_ms == 5_000
    assert Session(0.001, grace=1).gap_ms == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Tumbling(0), "must be positive"),
        (lambda: Tumbling(-1.0), "must be positive"),
        (lambda: Tumbling(1.0, grace=-0.5), "zero or positive"),
        (lambda: Tumbling(float("inf")), "finite"),
        (lambda: Tumbling(float("nan")), "finite"),
        (lambda: Tumbling("60"), "number of seconds"),
        (lambda: Tumbling(True), "number of seconds"),
        (lambda: Tumbling(0.0005), "whole number of milliseconds"),
        (lambda: Hopping(10.0, 20.0), "must not exceed its size"),
        (lambda: Hopping(10.0, 0), "advance must be positive"),
        (lambda: Sliding(0), "time_difference must be positive"),
        (lambda: Session(0), "gap must be positive"),
        (lambda: Session(1.0, grace=float("-inf")), "finite"),
        (lambda: Tumbling(1e300), "too large"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(make, message: str) -> None:
    with pytest.raises(InvalidWindowError, match=message) as info:
        make()
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)


def test_tumbling_windows_for() -> None:
    w = Tumbling(60.0)
    assert w.windows_for(0) == [(0, 60_000)]
    assert w.windows_for(59_999) == [(0, 60_000)]
    assert w.windows_for(60_000) == [(60_000, 120_000)]
    assert w.windows_for(-1) == [(-60_000, 0)]


def test_hopping_windows_for() -> None:
    w = Hopping(10.0, 5.0)
    assert w.windows_for(7_000) == [(0, 10_000), (5_000, 15_000)]
    assert w.windows_for(10_000) == [(5_000, 15_000), (10_000, 20_000)]
    assert Hopping(10.0, 3.0).windows_for(9_000) == [
        (0, 10_000),
        (3_000, 13_000),
        (6_000, 16_000),
        (9_000, 19_000),
    ]
    assert Hopping(10.0, 10.0).windows_for(12_345) == Tumbling(10.0).windows_for(12_345)


@given(ts=TIMES, size=st.integers(1, 5_000), advance=st.integers(1, 5_000))
def test_hopping_windows_are_exactly_the_aligned_ones_holding_the_time(ts, size, advance) -> None:
    if advance > size:
        size, advance = advance, size
    w = Hopping(size / 1000, advance / 1000)
    assert all(s % advance == 0 for s in range((ts - size) - (ts - size) % advance, ts, advance))
    expected = [
        (s, s + size)
        for s in range((ts - size) - (ts - size) % advance, ts + 1, advance)
        if s <= ts < s + size
    ]
    assert expected  # advance <= size: every time is in at least one window
    assert w.windows_for(ts) == expected


def test_close_times() -> None:
    assert Tumbling(60.0, grace=2.0).close_time(60_000) == 62_000
    assert Hopping(60.0, 30.0).close_time(60_000) == 60_000
    # Inclusive ends close one millisecond later.
    assert Sliding(5.0, grace=1.0).close_time(8_000) == 9_001
    assert Session(5.0, grace=1.0).close_time(8_000) == 14_001


def test_sliding_windows_for_is_the_left_window() -> None:
    assert Sliding(5.0).windows_for(8_000) == [(3_000, 8_000)]
    assert Sliding(5.0).windows_for(1_000) == [(-4_000, 1_000)]


def test_definitions_are_frozen_and_comparable() -> None:
    assert Tumbling(60.0, grace=1.0) == Tumbling(60, grace=1)
    with pytest.raises(AttributeError):
        Tumbling(60.0).size = 5  # type: ignore[misc]


def test_windowed_public_form_is_seconds() -> None:
    w = Windowed("a", 60.0, 120.0)
    assert (w.key, w.start, w.end, w.start_ms, w.end_ms) == ("a", 60.0, 120.0, 60_000, 120_000)
    assert w == Windowed.from_ms("a", 60_000, 120_000)
    assert hash(w) == hash(Windowed.from_ms("a", 60_000, 120_000))
    assert w != Windowed.from_ms("a", 60_000, 120_001)
    assert w != Windowed.from_ms("b", 60_000, 120_000)
    key, start_ms, end_ms = w  # a tuple of exact times
    assert (key, start_ms, end_ms) == ("a", 60_000, 120_000)
    assert repr(w) == "Windowed(key='a', start=60.0, end=120.0)"
    assert Windowed.from_dict(w.to_dict()) == w
    assert pickle.loads(pickle.dumps(w)) == w
    with pytest.raises(AttributeError):
        w.key = "b"  # type: ignore[misc]
