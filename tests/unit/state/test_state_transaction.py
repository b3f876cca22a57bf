"""The per-task write buffer: read-your-writes, changelog records, apply and abort."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from kstreamy.state import InMemoryStore, RocksDBStore, StoreResources, StoreTransaction


class RecordingStore(InMemoryStore):
    """Counts batches so tests can assert that apply() is one atomic write."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.batches: list[list[tuple[bytes, bytes | None]]] = []
        self.fail_next_batch = False

    def write_batch(self, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        batch = list(items)
        if self.fail_next_batch:
            self.fail_next_batch = False
            raise OSError("disk full")
        self.batches.append(batch)
        super().write_batch(batch)


@pytest.fixture
def store() -> RecordingStore:
    s = RecordingStore("counts")
    s.write_batch([(b"a", b"A0"), (b"c", b"C0"), (b"e", b"E0")])
    s.batches.clear()
    return s


@pytest.fixture
def tx(store: RecordingStore) -> StoreTransaction:
    return StoreTransaction(store, "app-counts-changelog", 3)


def test_attributes(tx: StoreTransaction, store: RecordingStore) -> None:
    assert tx.store is store
    assert tx.changelog_topic == "app-counts-changelog"
    assert tx.partition == 3
    assert not tx.dirty
    assert tx.pending_count == 0


def test_reads_fall_through_to_store(tx: StoreTransaction) -> None:
    assert tx.get(b"a") == b"A0"
    assert tx.get(b"zz") is None


def test_read_your_writes(tx: StoreTransaction, store: RecordingStore) -> None:
    tx.put(b"a", b"A1")
    tx.put(b"new", b"N1")
    assert tx.get(b"a") == b"A1"
    assert tx.get(b"new") == b"N1"
    assert store.get(b"a") == b"A0"
    assert store.get(b"new") is None
    assert tx.dirty


def test_pending_delete_reads_as_none(tx: StoreTransaction, store: RecordingStore) -> None:
    tx.delete(b"a")
    assert tx.get(b"a") is None
    assert store.get(b"a") == b"A0"
    tx.put(b"a", b"again")
    assert tx.get(b"a") == b"again"


def test_put_none_is_rejected(tx: StoreTransaction) -> None:
    with pytest.raises(TypeError):
        tx.put(b"a", None)  # type: ignore[arg-type]


def test_pending_changelog_last_write_wins(tx: StoreTransaction) -> None:
    tx.put(b"x", b"1")
    tx.put(b"y", b"1")
    tx.put(b"x", b"2")
    tx.delete(b"a")
    tx.delete(b"y")
    assert tx.pending_changelog() == [(b"x", b"2"), (b"y", None), (b"a", None)]
    assert tx.pending_count == 3


def test_no_changelog_means_no_records(store: RecordingStore) -> None:
    tx = StoreTransaction(store, None, 0)
    tx.put(b"k", b"v")
    assert tx.pending_changelog() == []
    tx.apply()
    assert store.get(b"k") == b"v"


def test_apply_is_one_atomic_batch(tx: StoreTransaction, store: RecordingStore) -> None:
    tx.put(b"a", b"A1")
    tx.delete(b"c")
    tx.put(b"b", b"B1")
    tx.apply()
    assert store.batches == [[(b"a", b"A1"), (b"c", None), (b"b", b"B1")]]
    assert list(store.items()) == [(b"a", b"A1"), (b"b", b"B1"), (b"e", b"E0")]
    assert not tx.dirty
    assert tx.pending_changelog() == []


def test_apply_without_writes_touches_nothing(tx: StoreTransaction, store: RecordingStore) -> None:
    tx.apply()
    assert store.batches == []


def test_failed_apply_keeps_the_buffer(tx: StoreTransaction, store: RecordingStore) -> None:
    tx.put(b"a", b"A1")
    store.fail_next_batch = True
    with pytest.raises(OSError):
        tx.apply()
    assert tx.dirty
    assert store.get(b"a") == b"A0"
    tx.apply()
    assert store.get(b"a") == b"A1"


def test_discard_drops_everything(tx: StoreTransaction, store: RecordingStore) -> None:
    tx.put(b"a", b"A1")
    tx.delete(b"c")
    tx.discard()
    assert not tx.dirty
    assert tx.get(b"a") == b"A0"
    assert tx.get(b"c") == b"C0"
    assert tx.pending_changelog() == []
    tx.apply()
    assert store.batches == []


def test_items_merges_buffer_over_store(tx: StoreTransaction) -> None:
    tx.put(b"0", b"before-all")
    tx.put(b"a", b"A1")  # overrides
    tx.put(b"b", b"B1")  # between
    tx.delete(b"c")  # hides
    tx.put(b"z", b"after-all")
    tx.delete(b"missing")  # delete of an absent key shows nothing
    assert list(tx.items()) == [
        (b"0", b"before-all"),
        (b"a", b"A1"),
        (b"b", b"B1"),
        (b"e", b"E0"),
        (b"z", b"after-all"),
    ]


def test_items_respects_range(tx: StoreTransaction) -> None:
    tx.put(b"b", b"B1")
    tx.put(b"d", b"D1")
    tx.delete(b"e")
    assert list(tx.items(b"b", b"e")) == [(b"b", b"B1"), (b"c", b"C0"), (b"d", b"D1")]
    assert list(tx.items(b"c", b"c")) == []
    assert list(tx.items(None, b"b")) == [(b"a", b"A0")]
    assert list(tx.items(b"d")) == [(b"d", b"D1")]


def test_items_is_unaffected_by_writes_during_scan(tx: StoreTransaction) -> None:
    tx.put(b"b", b"B1")
    seen = []
    for key, _ in tx.items():
        seen.append(key)
        tx.put(key + b"+", b"x")
    assert seen == [b"a", b"b", b"c", b"e"]


def test_scans_see_keys_written_after_an_earlier_scan(tx: StoreTransaction) -> None:
    # The buffer keeps its keys sorted after the first scan; later writes must join them.
    assert list(tx.items(b"b", b"d")) == [(b"c", b"C0")]
    tx.put(b"bb", b"1")
    tx.delete(b"c")
    tx.put(b"b", b"2")
    assert list(tx.items(b"b", b"d")) == [(b"b", b"2"), (b"bb", b"1")]
    tx.put(b"c", b"3")  # already buffered (as a deletion): no duplicate in the scan
    tx.put(b"a0", b"4")
    assert list(tx.items()) == [
        (b"a", b"A0"),
        (b"a0", b"4"),
        (b"b", b"2"),
        (b"bb", b"1"),
        (b"c", b"3"),
        (b"e", b"E0"),
    ]
    tx.discard()
    tx.put(b"d", b"5")
    assert list(tx.items()) == [(b"a", b"A0"), (b"c", b"C0"), (b"d", b"5"), (b"e", b"E0")]


@pytest.mark.parametrize("scanned_before", [False, True])
def test_write_many_is_puts_and_deletes_in_order(scanned_before: bool) -> None:
    one_by_one = StoreTransaction(InMemoryStore("a"), "chg", 0)
    batched = StoreTransaction(InMemoryStore("b"), "chg", 0)
    for tx in (one_by_one, batched):
        tx.put(b"m", b"0")
        if scanned_before:  # the buffer keeps its keys sorted from now on
            assert list(tx.items()) == [(b"m", b"0")]
    writes = [(b"z", b"1"), (b"m", None), (b"a", b"2"), (b"z", b"3"), (b"q", b"")]
    for key, value in writes:
        if value is None:
            one_by_one.delete(key)
        else:
            one_by_one.put(key, value)
    batched.write_many(writes)
    assert batched.pending_changelog() == one_by_one.pending_changelog()
    assert (
        list(batched.items())
        == list(one_by_one.items())
        == [
            (b"a", b"2"),
            (b"q", b""),
            (b"z", b"3"),
        ]
    )
    assert list(batched.items(b"b", b"r")) == [(b"q", b"")]


def test_scans_between_single_writes_to_a_large_buffer_stay_sorted() -> None:
    # A scan per record over a buffer of thousands of keys (window stores, joins): new keys are
    # inserted one by one instead of re-sorting the buffer each time.
    rng = random.Random(7)
    tx = StoreTransaction(InMemoryStore("s"), "chg", 0)
    model: dict[bytes, bytes] = {}
    for i in range(500):
        key = rng.randbytes(rng.randrange(1, 4))
        tx.put(key, b"%d" % i)
        model[key] = b"%d" % i
    assert list(tx.items()) == sorted(model.items())
    for i in range(300):
        key = rng.randbytes(rng.randrange(1, 4))
        if i % 3:
            tx.put(key, b"x%d" % i)
            model[key] = b"x%d" % i
        else:
            tx.delete(key)
            model.pop(key, None)
        start, end = sorted(rng.randbytes(2) for _ in range(2))
        assert list(tx.items(start, end)) == _model_scan(model, start, end)
    assert list(tx.items()) == sorted(model.items())


def _model_scan(
    model: dict[bytes, bytes], start: bytes | None, end: bytes | None
) -> list[tuple[bytes, bytes]]:
    return sorted(
        (k, v)
        for k, v in model.items()
        if (start is None or k >= start) and (end is None or k < end)
    )


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_random_operations_match_a_dict_model(backend: str, tmp_path: Path) -> None:
    rng = random.Random(20240611)
    if backend == "memory":
        store = InMemoryStore("s")
    else:
        store = RocksDBStore("s", tmp_path / "s", StoreResources(1 << 20, 1 << 20))
    tx = StoreTransaction(store, "chg", 0)
    committed: dict[bytes, bytes] = {}
    model: dict[bytes, bytes] = {}
    keys = [bytes([rng.randrange(12)]) * rng.randrange(1, 3) for _ in range(40)]
    try:
        for step in range(2000):
            key = rng.choice(keys)
            roll = rng.random()
            if roll < 0.45:
                value = b"%d" % step
                tx.put(key, value)
                model[key] = value
            elif roll < 0.7:
                tx.delete(key)
                model.pop(key, None)
            elif roll < 0.8:
                tx.apply()
                committed = dict(model)
            elif roll < 0.85:
                tx.discard()
                model = dict(committed)
            else:
                start = rng.choice([None, *keys])
                end = rng.choice([None, *keys])
                assert list(tx.items(start, end)) == _model_scan(model, start, end)
            probe = rng.choice(keys)
            assert tx.get(probe) == model.get(probe)
        tx.apply()
        assert list(store.items()) == sorted(model.items())
    finally:
        store.close()


def test_works_over_rocksdb(tmp_path: Path) -> None:
    store = RocksDBStore("s", tmp_path / "s", StoreResources(1 << 20, 1 << 20))
    try:
        store.write_batch([(b"a", b"1"), (b"b", b"2")])
        tx = StoreTransaction(store, "chg", 0)
        tx.delete(b"a")
        tx.put(b"c", b"3")
        assert list(tx.items()) == [(b"b", b"2"), (b"c", b"3")]
        tx.apply()
        assert list(store.items()) == [(b"b", b"2"), (b"c", b"3")]
    finally:
        store.close()
