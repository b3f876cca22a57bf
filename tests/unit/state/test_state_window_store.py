"""Window and session stores over a store transaction: layout, range scans, expiry."""

from __future__ import annotations

import random

import pytest

from kstreamy.state import InMemoryStore, StoreTransaction
from kstreamy.state.session_store import SessionStore
from kstreamy.state.window_store import (
    MAX_TIME,
    MIN_TIME,
    WindowStore,
    decode_time,
    encode_time,
    index_key,
    split_index_key,
)


def make_txn() -> StoreTransaction:
    return StoreTransaction(InMemoryStore("w"), "app-w-changelog", 0)


@pytest.fixture(params=["pending", "applied"])
def applied(request) -> bool:
    """Run each scenario once reading from the buffer and once from the store underneath."""
    return request.param == "applied"


def settle(txn: StoreTransaction, applied: bool) -> None:
    if applied:
        txn.apply()


def test_time_encoding_preserves_order() -> None:
    times = [MIN_TIME, -(10**12), -1, 0, 1, 10**12, MAX_TIME]
    assert sorted(encode_time(t) for t in times) == [encode_time(t) for t in times]
    assert [decode_time(encode_time(t)) for t in times] == times
    assert split_index_key(index_key(-5, b"k\x00", 7)) == (-5, b"k\x00", 7)


def test_put_get_delete(applied: bool) -> None:
    txn = make_txn()
    store = WindowStore(txn, 10)
    store.put(b"a", 0, b"A0")
    store.put(b"a", -10, b"A-10")
    settle(txn, applied)
    assert store.get(b"a", 0) == b"A0"
    assert store.get(b"a", -10) == b"A-10"
    assert store.get(b"a", 10) is None
    assert store.get(b"ab", 0) is None
    store.update(b"a", -10, b"A-10 again")  # a stored window: only its value changes
    store.delete(b"a", 0)
    settle(txn, applied)
    assert store.get(b"a", 0) is None
    assert store.expired(MAX_TIME) == [(b"a", -10, 0, b"A-10 again")]


def test_fetch_is_per_key_and_inclusive(applied: bool) -> None:
    txn = make_txn()
    store = WindowStore(txn, 10)
    for key in (b"a", b"ab", b"b", b""):
        for start in (-20, -10, 0, 10, 20):
            store.put(key, start, key + b"@" + str(start).encode())
    settle(txn, applied)
    assert list(store.fetch(b"a", -10, 10)) == [
        (-10, 0, b"a@-10"),
        (0, 10, b"a@0"),
        (10, 20, b"a@10"),
    ]
    assert [s for s, _, _ in store.fetch(b"", MIN_TIME, MAX_TIME)] == [-20, -10, 0, 10, 20]
    assert list(store.fetch(b"a", 11, 19)) == []
    assert list(store.fetch(b"a", 5, 4)) == []
    assert [(k, s) for k, s, _, _ in store.fetch_all(0, 10)] == [
        (b"", 0),
        (b"a", 0),
        (b"b", 0),
        (b"ab", 0),
        (b"", 10),
        (b"a", 10),
        (b"b", 10),
        (b"ab", 10),
    ]


def test_expiry_is_by_end_across_keys(applied: bool) -> None:
    txn = make_txn()
    store = WindowStore(txn, 100)
    store.put(b"z", 0, b"z0")  # ends at 100
    store.put(b"a", 50, b"a50")  # ends at 150
    store.put(b"m", 0, b"m0")  # ends at 100
    store.put(b"a", 200, b"a200")  # ends at 300
    settle(txn, applied)
    assert store.expired(100) == []
    assert store.expired(101) == [(b"m", 0, 100, b"m0"), (b"z", 0, 100, b"z0")]
    assert store.ending_between(101, 301) == [(b"a", 50, 150, b"a50"), (b"a", 200, 300, b"a200")]
    assert store.first_end() == 100
    assert store.first_end(101) == 150
    assert store.first_end(301) is None
    assert store.drop_before(151) == 3
    settle(txn, applied)
    assert store.get(b"a", 50) is None and store.get(b"z", 0) is None
    assert store.get(b"a", 200) == b"a200"
    assert store.first_end() == 300
    assert store.drop_before(151) == 0


def test_meta_does_not_show_up_as_windows() -> None:
    txn = make_txn()
    store = WindowStore(txn, 10)
    store.put_meta(b"swept", b"\x01")
    store.put(b"k", 0, b"v")
    assert store.get_meta(b"swept") == b"\x01"
    assert store.expired(MAX_TIME) == [(b"k", 0, 10, b"v")]
    assert list(store.fetch_all(MIN_TIME + 10, MAX_TIME - 10)) == [(b"k", 0, 10, b"v")]


def test_changelog_carries_both_entries_so_restore_is_complete() -> None:
    txn = make_txn()
    WindowStore(txn, 10).put(b"k", 0, b"v")
    restored = InMemoryStore("restored")
    restored.write_batch(txn.pending_changelog())
    again = WindowStore(StoreTransaction(restored, None, 0), 10)
    assert again.get(b"k", 0) == b"v"
    assert again.expired(11) == [(b"k", 0, 10, b"v")]


def test_windows_written_by_store_key_are_what_put_and_delete_write() -> None:
    by_window, by_key = make_txn(), make_txn()
    a, b = WindowStore(by_window, 10), WindowStore(by_key, 10)
    a.put(b"k", -5, b"v1")
    a.put(b"kk", 0, b"v2")
    a.update(b"k", -5, b"v3")
    a.delete(b"kk", 0)
    k, kk = b.window_key(b"k", -5), b.window_key(b"kk", 0)
    b.write([(k, b"v1"), (b.index_entry(k), b"")])
    b.write([(kk, b"v2"), (b.index_entry(kk), b"")])
    b.write([(k, b"v3")])
    b.write([(kk, None), (b.index_entry(kk), None)])
    assert by_key.pending_changelog() == by_window.pending_changelog()
    assert b.get_by_key(b.window_key(b"k", -5)) == b.get(b"k", -5) == b"v3"


def test_index_entries_derived_from_window_keys_match_the_layout() -> None:
    store = WindowStore(make_txn(), 25)
    for start in (MIN_TIME, -(10**12), -30, -1, 0, 7, 10**12, MAX_TIME - 25):
        for key in (b"", b"k", b"\xff" * 9):
            entry = store.index_entry(store.window_key(key, start))
            assert entry == index_key(start + 25, key, start)
            assert split_index_key(entry) == (start + 25, key, start)
    for start in range(200):  # more starts than it remembers prefixes for
        assert store.index_entry(store.window_key(b"a", start)) == index_key(
            start + 25, b"a", start
        )


def test_any_ending_at_sees_buffered_and_stored_windows(applied: bool) -> None:
    txn = make_txn()
    store = WindowStore(txn, 10)
    store.put_meta(b"swept", b"\x01")
    store.put(b"a", 0, b"v")
    store.put(b"b", 20, b"v")
    settle(txn, applied)
    assert [e for e in (0, 9, 10, 11, 29, 30, 31, MAX_TIME) if store.any_ending_at(e)] == [10, 30]
    store.delete(b"a", 0)
    assert not store.any_ending_at(10)


def test_random_operations_match_a_dict_model() -> None:
    rng = random.Random(5)
    txn = make_txn()
    store = WindowStore(txn, 7)
    model: dict[tuple[bytes, int], bytes] = {}
    for step in range(2000):
        key = rng.choice([b"", b"a", b"a\x00", b"b", b"\xff"])
        start = rng.randrange(-50, 50)
        if rng.random() < 0.6:
            value = str(step).encode()
            store.put(key, start, value)
            model[key, start] = value
        else:
            store.delete(key, start)
            model.pop((key, start), None)
        if step % 97 == 0:
            txn.apply()
        if step % 13 == 0:
            lo, hi = sorted(rng.randrange(-60, 60) for _ in range(2))
            assert list(store.fetch(key, lo, hi)) == [
                (s, s + 7, model[key, s]) for s in range(lo, hi + 1) if (key, s) in model
            ]
            cut = rng.randrange(-50, 60)
            assert store.expired(cut) == sorted(
                ((k, s, s + 7, v) for (k, s), v in model.items() if s + 7 < cut),
                key=lambda w: (w[2], len(w[0]), w[0], w[1]),
            )


def test_sessions_find_by_overlap(applied: bool) -> None:
    txn = make_txn()
    store = SessionStore(txn)
    store.put(b"u", 10, 12, b"s1")
    store.put(b"u", 20, 20, b"s2")
    store.put(b"u", 40, 55, b"s3")
    store.put(b"v", 13, 19, b"other key")
    settle(txn, applied)
    # A record at 16 with gap 5 merges with sessions ending >= 11 and starting <= 21.
    assert store.find_sessions(b"u", 11, 21) == [(10, 12, b"s1"), (20, 20, b"s2")]
    assert store.find_sessions(b"u", 13, 19) == []
    assert store.find_sessions(b"u", 55, 40) == [(40, 55, b"s3")]
    assert list(store.fetch(b"u")) == [(10, 12, b"s1"), (20, 20, b"s2"), (40, 55, b"s3")]
    assert store.get(b"u", 20, 20) == b"s2"
    assert store.get(b"u", 20, 21) is None
    store.delete(b"u", 10, 12)
    settle(txn, applied)
    assert store.find_sessions(b"u", 0, 100) == [(20, 20, b"s2"), (40, 55, b"s3")]
    assert store.expired(21) == [(b"v", 13, 19, b"other key"), (b"u", 20, 20, b"s2")]
    assert store.drop_before(56) == 3
    assert list(store.fetch(b"u")) == []


def test_session_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        SessionStore(make_txn()).put(b"k", 5, 4, b"v")
    with pytest.raises(ValueError):
        WindowStore(make_txn(), 0)


def test_ranges_beyond_64_bits_are_clamped() -> None:
    store = WindowStore(make_txn(), 10)
    store.put(b"k", MIN_TIME, b"first")
    assert store.expired(MIN_TIME - 5) == []
    assert store.drop_before(MIN_TIME - 5) == 0
    assert store.ending_between(MIN_TIME - 100, MAX_TIME + 100) == [
        (b"k", MIN_TIME, MIN_TIME + 10, b"first")
    ]
    assert store.first_end(MIN_TIME - 1) == MIN_TIME + 10
    assert list(store.fetch(b"k", MIN_TIME - 1, MAX_TIME + 1)) == [
        (MIN_TIME, MIN_TIME + 10, b"first")
    ]
