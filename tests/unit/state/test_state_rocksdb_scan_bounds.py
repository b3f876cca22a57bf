"""A range scan keeps its upper bound however the caller built it.

RocksDB reads the bound from memory owned by the scan's read options; a bound made on the fly
(as the window and session stores do) once ended scans at random places after the options were
freed.
"""

import gc

from kstreamy.state.resources import StoreResources
from kstreamy.state.rocksdb_store import RocksDBStore

MiB = 1024 * 1024


def test_a_temporary_upper_bound_still_ends_the_scan(tmp_path):
    store = RocksDBStore("s", tmp_path / "s", StoreResources(8 * MiB, 8 * MiB))
    try:
        store.write_batch(
            [(b"\x01" + bytes([i]), b"in") for i in range(50)]
            + [(b"\x02" + bytes([i]), b"out") for i in range(50)]
        )
        for _ in range(5):
            scan = store.items(b"\x01", bytes(bytearray(b"\x02")))  # a fresh bytes object
            gc.collect()
            _reuse_freed_memory = [bytes(bytearray(b"\xff")) for _ in range(1000)]
            assert [v for _, v in scan] == [b"in"] * 50
    finally:
        store.close()
