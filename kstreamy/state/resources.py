"""Memory shared by all RocksDB stores of one instance.

Without sharing, every store gets its own block cache and memtables, so memory grows with the
number of tasks an instance happens to be assigned; a rebalance that moves many partitions to
one process could then exhaust it. One cache and one write buffer manager make the bound a
property of the instance instead.
"""

from __future__ import annotations

from rocksdict import BlockBasedIndexType, BlockBasedOptions, Cache, Options, WriteBufferManager

MiB = 1024 * 1024

METADATA_BLOCK_BYTES = 4096
"""Size of one partition of an SST file's index or filter (RocksDB's default)."""

WRITE_BUFFER_SHARE = 4
"""One part in this many of a total memory bound goes to memtables, the rest to the block cache.

Kafka Streams' BoundedMemoryRocksDBConfig leaves the split to the user. Memtables here hold
only the writes since the last checkpoint (which flushes them), so a quarter is plenty, and most
of the bound holds what grows with the number of keys: index and filter blocks, and the data
blocks that make reads of existing keys cheap. Memtables are charged to the cache, so blocks may
also use whatever part of the quarter they leave free."""


LOG_FILE_BYTES = 1024 * 1024
"""Size at which a store's RocksDB log (``LOG``) is rolled."""
LOG_FILES_KEPT = 2
"""Rolled RocksDB logs kept per store (``LOG.old.*``); with the current one, at most 3 MB."""


class StoreResources:
    """The block cache, write buffer manager and per-store tuning of one instance.

    Memtable memory is charged to the block cache (``new_write_buffer_manager_with_cache``),
    whose capacity is ``block_cache_bytes + write_buffer_bytes``: the two budgets add up to
    one bound, and blocks may use whatever the memtables currently do not. Index and filter
    blocks also live in that cache so they are bounded too. The bound is soft: RocksDB may
    briefly overshoot while a flush is in progress (writers are not stalled, because a stalled
    writer would stall the whole processing loop). Every non-empty memtable also holds at
    least one arena block (an eighth of the per-store write buffer), so with many stores
    written at once usage can exceed ``write_buffer_bytes`` by about that much per store;
    size the budget with the expected number of tasks in mind.

    Instances must outlive every store opened with their options; :class:`RocksDBStore`
    keeps a reference for that reason.
    """

    def __init__(
        self,
        block_cache_bytes: int = 64 * MiB,
        write_buffer_bytes: int = 64 * MiB,
        *,
        store_write_buffer_bytes: int = 8 * MiB,
        max_open_files_per_store: int = 128,
        partitioned_filters: bool = False,
    ) -> None:
        if block_cache_bytes <= 0 or write_buffer_bytes <= 0:
            raise ValueError("block_cache_bytes and write_buffer_bytes must be positive")
        if store_write_buffer_bytes <= 0:
            raise ValueError("store_write_buffer_bytes must be positive")
        if max_open_files_per_store == 0 or max_open_files_per_store < -1:
            raise ValueError("max_open_files_per_store must be positive or -1 (unlimited)")
        self.block_cache_bytes = block_cache_bytes
        self.write_buffer_bytes = write_buffer_bytes
        # A single store's memtable never needs more than the shared budget.
        self.store_write_buffer_bytes = min(store_write_buffer_bytes, write_buffer_bytes)
        # Many tasks per instance means many databases; a per-store limit keeps the process
        # far from the file-descriptor limit.
        self.max_open_files_per_store = max_open_files_per_store
        self.partitioned_filters = partitioned_filters
        """Index and filter blocks in partitions: for a bound chosen smaller than the state
        (see :meth:`options`); off by default, where whole filters need one cache look-up less
        per read."""
        self.cache = Cache(block_cache_bytes + write_buffer_bytes)
        self.write_buffer_manager = WriteBufferManager.new_write_buffer_manager_with_cache(
            write_buffer_bytes, False, self.cache
        )

    @classmethod
    def bounded(cls, total_bytes: int, **tuning: int) -> StoreResources:
        """Resources whose block cache and memtables together stay within ``total_bytes``.

        One number is what an operator knows (the memory a container may give its stores);
        splitting it is RocksDB tuning, done here: :data:`WRITE_BUFFER_SHARE`.
        """
        cache_bytes, write_buffer_bytes = split_memory(total_bytes)
        return cls(cache_bytes, write_buffer_bytes, partitioned_filters=True, **tuning)

    @property
    def total_bytes(self) -> int:
        """The soft memory bound of all RocksDB stores of this instance."""
        return self.block_cache_bytes + self.write_buffer_bytes

    def options(self) -> Options:
        """Build fresh options for one store, wired to the shared cache and manager."""
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        # Most reads are point lookups of keys that may not exist yet (first event of a key).
        table.set_bloom_filter(10, False)
        # With a bound from state_memory_bytes: partitioned index and filters, as Kafka
        # Streams recommends when they live in a bounded cache. A whole filter grows with the
        # keys of its file (1.5 MB for a million keys), and a block larger than a cache shard
        # (1/64 of the cache) is read from the file again on every lookup (bench/memory.py,
        # 32 MB: 6,000 instead of 170,000 records/s). Partitions of METADATA_BLOCK_BYTES always
        # fit; only the small top level of each file stays pinned.
        if self.partitioned_filters:
            table.set_index_type(BlockBasedIndexType.two_level_index_search())
            table.set_partition_filters(True)
            table.set_metadata_block_size(METADATA_BLOCK_BYTES)
            table.set_pin_top_level_index_and_filter(True)

        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_block_based_table_factory(table)
        opts.set_write_buffer_manager(self.write_buffer_manager)
        opts.set_write_buffer_size(self.store_write_buffer_bytes)
        opts.set_max_write_buffer_number(2)
        opts.set_max_open_files(self.max_open_files_per_store)
        # RocksDB's own log (LOG, in the store directory) gets lines at every flush and
        # compaction and is never trimmed by default, so the state directory grew for as long
        # as an instance ran. Kept to a few rolled files.
        opts.set_max_log_file_size(LOG_FILE_BYTES)
        opts.set_keep_log_file_num(LOG_FILES_KEPT)
        return opts

    def cache_usage(self) -> int:
        """Bytes currently held by the shared cache, memtable reservations included."""
        return int(self.cache.get_usage())

    def write_buffer_usage(self) -> int:
        """Bytes of memtables currently alive across all stores."""
        return int(self.write_buffer_manager.get_usage())

    def usage(self) -> dict[str, int]:
        """The bound and what RocksDB holds against it now, for the status file: whether the
        bound is what limits memory can be read off a running instance."""
        return {
            "bound_bytes": self.total_bytes,
            "used_bytes": self.cache_usage(),
            "memtable_bytes": self.write_buffer_usage(),
            "pinned_bytes": int(self.cache.get_pinned_usage()),
        }

    def __repr__(self) -> str:
        return (
            f"StoreResources(block_cache_bytes={self.block_cache_bytes}, "
            f"write_buffer_bytes={self.write_buffer_bytes})"
        )


def split_memory(total_bytes: int) -> tuple[int, int]:
    """``(block_cache_bytes, write_buffer_bytes)`` adding up to ``total_bytes``."""
    if total_bytes < WRITE_BUFFER_SHARE:
        raise ValueError(f"total_bytes must be at least {WRITE_BUFFER_SHARE}, got {total_bytes}")
    write_buffer_bytes = total_bytes // WRITE_BUFFER_SHARE
    return total_bytes - write_buffer_bytes, write_buffer_bytes
