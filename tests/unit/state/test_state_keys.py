"""Window keys: round trips, ordering and contiguity per key."""

from __future__ import annotations

import random

import pytest

from kstreamy.state import InMemoryStore, key_range, split_window_key, window_key, window_range

EXTREMES = [-(1 << 63), -1_000, -1, 0, 1, 59_999, 60_000, 1_700_000_000_000, (1 << 63) - 1]
KEYS = [b"", b"a", b"ab", b"a\x00", b"b", b"\xff", b"\xff\xff\xff\xff\xff", b"sensor-17"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("start", EXTREMES)
def test_round_trip(key: bytes, start: int) -> None:
    assert split_window_key(window_key(key, start)) == (key, start)


def test_windows_of_one_key_sort_by_start() -> None:
    starts = [*EXTREMES, *random.Random(7).sample(range(-(10**12), 10**12), 200)]
    encoded = sorted(window_key(b"k", s) for s in starts)
    assert [split_window_key(e)[1] for e in encoded] == sorted(starts)


def test_windows_of_one_key_are_contiguous() -> None:
    rng = random.Random(11)
    composite = [window_key(rng.choice(KEYS), rng.choice(EXTREMES)) for _ in range(500)]
    seen_keys: list[bytes] = []
    for encoded in sorted(composite):
        key, _ = split_window_key(encoded)
        if not seen_keys or seen_keys[-1] != key:
            assert key not in seen_keys, f"windows of {key!r} are not contiguous"
            seen_keys.append(key)


def test_prefix_keys_do_not_interleave() -> None:
    # Without the length prefix, b"a"+start could sort between windows of b"a\x00".
    a = [window_key(b"a", s) for s in EXTREMES]
    a0 = [window_key(b"a\x00", s) for s in EXTREMES]
    assert max(a) < min(a0) or max(a0) < min(a)


@pytest.mark.parametrize("start", [-(1 << 63) - 1, 1 << 63])
def test_out_of_range_start(start: int) -> None:
    with pytest.raises(ValueError):
        window_key(b"k", start)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\x00\x00", b"\x00\x00\x00\x05ab" + b"\x00" * 8, b"\x00\x00\x00\x00" + b"\x00" * 9],
)
def test_split_rejects_foreign_bytes(raw: bytes) -> None:
    with pytest.raises(ValueError):
        split_window_key(raw)


def _store_with_windows() -> InMemoryStore:
    store = InMemoryStore("windows")
    for key in KEYS:
        for start in EXTREMES:
            store.put(window_key(key, start), key + b"@" + str(start).encode())
    return store


@pytest.mark.parametrize("key", KEYS)
def test_key_range_selects_exactly_that_key(key: bytes) -> None:
    store = _store_with_windows()
    found = [split_window_key(k) for k, _ in store.items(*key_range(key))]
    assert found == [(key, s) for s in EXTREMES]


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 60_000, [0, 1, 59_999]),
        (-1_000, 1, [-1_000, -1, 0]),
        (60_000, 60_000, []),
        (-(1 << 70), -1_000, [-(1 << 63)]),
        (1_700_000_000_000, 1 << 70, [1_700_000_000_000, (1 << 63) - 1]),
    ],
)
def test_window_range_is_half_open(lo: int, hi: int, expected: list[int]) -> None:
    store = _store_with_windows()
    for key in (b"a", b"\xff\xff\xff\xff\xff"):
        found = [split_window_key(k) for k, _ in store.items(*window_range(key, lo, hi))]
        assert found == [(key, s) for s in expected]
