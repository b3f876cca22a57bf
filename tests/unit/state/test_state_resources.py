"""One cache and one write buffer manager bound every RocksDB store of an instance."""

from __future__ import annotations

from pathlib import Path

import pytest
from rocksdict import Options

from kstreamy.state import RocksDBStore, StoreResources

MiB = 1 << 20


def test_defaults() -> None:
    resources = StoreResources()
    assert resources.block_cache_bytes == 64 * MiB
    assert resources.write_buffer_bytes == 64 * MiB
    assert resources.total_bytes == 128 * MiB
    assert resources.store_write_buffer_bytes == 8 * MiB
    assert resources.write_buffer_manager.enabled()
    assert resources.write_buffer_manager.get_buffer_size() == 64 * MiB


def test_per_store_buffer_never_exceeds_shared_budget() -> None:
    assert StoreResources(MiB, 2 * MiB).store_write_buffer_bytes == 2 * MiB


@pytest.mark.parametrize(
    "kwargs",
    [
        {"block_cache_bytes": 0},
        {"write_buffer_bytes": -1},
        {"store_write_buffer_bytes": 0},
        {"max_open_files_per_store": 0},
        {"max_open_files_per_store": -2},
    ],
)
def test_rejects_nonsense(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        StoreResources(**kwargs)


def test_options_are_fresh_raw_mode_objects() -> None:
    resources = StoreResources(MiB, MiB)
    first, second = resources.options(), resources.options()
    assert isinstance(first, Options)
    assert first is not second


def test_twenty_stores_share_one_instance_budget(tmp_path: Path) -> None:
    resources = StoreResources(block_cache_bytes=8 * MiB, write_buffer_bytes=8 * MiB)
    stores = [
        RocksDBStore(f"store-{i}", tmp_path / f"task_{i}" / "store", resources) for i in range(20)
    ]
    try:
        for i, store in enumerate(stores):
            store.write_batch([(b"k%04d" % j, b"%d:%d" % (i, j)) for j in range(500)])
        assert resources.write_buffer_usage() > 0
        # Memtable memory is charged to the shared block cache.
        assert resources.cache_usage() >= resources.write_buffer_usage()
        for store in stores:
            store.flush()
        for i, store in enumerate(stores):
            assert store.get(b"k0007") == b"%d:7" % i
            assert sum(1 for _ in store.items()) == 500
    finally:
        for store in stores:
            store.close()
    assert resources.write_buffer_usage() == 0


def _sst_count_after_spread_writes(tmp_path: Path, write_buffer_bytes: int) -> int:
    # Each store stays below its own memtable size (2 MiB), so only the shared manager
    # can cause a flush.
    resources = StoreResources(
        block_cache_bytes=MiB,
        write_buffer_bytes=write_buffer_bytes,
        store_write_buffer_bytes=2 * MiB,
    )
    stores = [RocksDBStore(f"s{i}", tmp_path / f"s{i}", resources) for i in range(20)]
    try:
        for round_ in range(8):
            for i, store in enumerate(stores):
                store.write_batch([(b"%d-%d-%d" % (round_, i, j), b"x" * 100) for j in range(1000)])
        return sum(len(list((tmp_path / f"s{i}").glob("*.sst"))) for i in range(20))
    finally:
        for store in stores:
            store.close()


def test_shared_write_buffer_manager_forces_flushes(tmp_path: Path) -> None:
    assert _sst_count_after_spread_writes(tmp_path / "unbounded", 1024 * MiB) == 0
    assert _sst_count_after_spread_writes(tmp_path / "bounded", 4 * MiB) > 0


def test_index_and_filters_are_partitioned_so_a_small_cache_holds_them(tmp_path: Path) -> None:
    store = RocksDBStore("s", tmp_path / "s", StoreResources.bounded(8 * MiB))
    store.close()
    written = "\n".join(p.read_text() for p in (tmp_path / "s").glob("OPTIONS-*"))
    assert "index_type=kTwoLevelIndexSearch" in written
    assert "partition_filters=true" in written
    assert "pin_top_level_index_and_filter=true" in written
    assert "cache_index_and_filter_blocks=true" in written


def test_the_two_budgets_keep_whole_index_and_filter_blocks(tmp_path: Path) -> None:
    store = RocksDBStore("s", tmp_path / "s", StoreResources(8 * MiB, 8 * MiB))
    store.close()
    written = "\n".join(p.read_text() for p in (tmp_path / "s").glob("OPTIONS-*"))
    assert "partition_filters=false" in written
    assert "index_type=kBinarySearch" in written
