"""Behaviour every KeyValueStore backend shares, run against each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kstreamy.state import (
    InMemoryStore,
    KeyValueStore,
    RocksDBStore,
    StoreClosedError,
    StoreResources,
)


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    if request.param == "memory":
        s: KeyValueStore = InMemoryStore("counts")
    else:
        s = RocksDBStore("counts", tmp_path / "counts", StoreResources(4 << 20, 4 << 20))
    yield s
    s.close()


def test_satisfies_protocol(store: KeyValueStore) -> None:
    assert isinstance(store, KeyValueStore)
    assert store.name == "counts"


def test_put_get_delete(store: KeyValueStore) -> None:
    assert store.get(b"k") is None
    store.put(b"k", b"v1")
    assert store.get(b"k") == b"v1"
    store.put(b"k", b"v2")
    assert store.get(b"k") == b"v2"
    store.delete(b"k")
    assert store.get(b"k") is None
    store.delete(b"never-there")


def test_empty_value_is_not_absent(store: KeyValueStore) -> None:
    store.put(b"k", b"")
    assert store.get(b"k") == b""
    assert list(store.items()) == [(b"k", b"")]


def test_items_sorted_by_bytes(store: KeyValueStore) -> None:
    keys = [b"\xff", b"b", b"\x00", b"a", b"ab", b"", b"a\x00"]
    for k in keys:
        store.put(k, b"v" + k)
    assert [k for k, _ in store.items()] == sorted(keys)
    assert dict(store.items()) == {k: b"v" + k for k in keys}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, [b"a", b"b", b"c", b"d"]),
        (b"b", None, [b"b", b"c", b"d"]),
        (None, b"c", [b"a", b"b"]),
        (b"b", b"d", [b"b", b"c"]),
        (b"bb", b"cc", [b"c"]),
        (b"c", b"c", []),
        (b"d", b"a", []),
        (b"x", None, []),
    ],
)
def test_items_range_end_exclusive(
    store: KeyValueStore, start: bytes | None, end: bytes | None, expected: list[bytes]
) -> None:
    for k in [b"a", b"b", b"c", b"d"]:
        store.put(k, k.upper())
    assert list(store.items(start, end)) == [(k, k.upper()) for k in expected]


def test_write_batch_applies_puts_and_deletes(store: KeyValueStore) -> None:
    store.put(b"gone", b"x")
    store.write_batch([(b"a", b"1"), (b"gone", None), (b"b", b"2"), (b"a", b"3")])
    assert store.get(b"gone") is None
    assert list(store.items()) == [(b"a", b"3"), (b"b", b"2")]


def test_write_batch_is_all_or_nothing(store: KeyValueStore) -> None:
    store.put(b"keep", b"old")

    def failing_source() -> Iterator[tuple[bytes, bytes | None]]:
        yield b"keep", b"new"
        yield b"other", b"x"
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        store.write_batch(failing_source())
    assert store.get(b"keep") == b"old"
    assert store.get(b"other") is None


def test_write_batch_empty_is_noop(store: KeyValueStore) -> None:
    store.write_batch([])
    assert list(store.items()) == []


def test_approximate_count(store: KeyValueStore) -> None:
    store.write_batch([(b"%03d" % i, b"v") for i in range(50)])
    store.flush()
    assert 25 <= store.approximate_count() <= 100


def test_closed_store_rejects_use(store: KeyValueStore) -> None:
    store.put(b"k", b"v")
    store.close()
    store.close()  # idempotent
    for call in (
        lambda: store.get(b"k"),
        lambda: store.put(b"k", b"v"),
        lambda: store.delete(b"k"),
        lambda: store.write_batch([(b"k", b"v")]),
        lambda: store.items(),
        lambda: store.approximate_count(),
        lambda: store.flush(),
    ):
        with pytest.raises(StoreClosedError):
            call()
