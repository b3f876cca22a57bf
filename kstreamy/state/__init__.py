"""Local state: stores, the per-task write buffer, checkpoint files, opening a task's state.

Layers, top to bottom: a task's :class:`StoreTransaction` buffers writes and yields changelog
records; the runtime's commit order decides when the buffer reaches the store; the store is a
:class:`RocksDBStore` (memory bounded per instance by :class:`StoreResources`) or an
:class:`InMemoryStore`; :class:`CheckpointFile` records how far each store reflects its
changelog.
"""

from kstreamy.state.checkpoint import CheckpointFile
from kstreamy.state.errors import (
    CheckpointCorruptedError,
    StateDiskError,
    StateError,
    StoreClosedError,
    StoreCorruptedError,
    StoreLockedError,
)
from kstreamy.state.keys import key_range, split_window_key, window_key, window_range
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.state.resources import StoreResources
from kstreamy.state.rocksdb_store import RocksDBStore
from kstreamy.state.store import KeyValueStore
from kstreamy.state.transaction import StoreTransaction

__all__ = [
    "CheckpointCorruptedError",
    "CheckpointFile",
    "InMemoryStore",
    "KeyValueStore",
    "RocksDBStore",
    "StateDiskError",
    "StateError",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreLockedError",
    "StoreResources",
    "StoreTransaction",
    "key_range",
    "split_window_key",
    "window_key",
    "window_range",
]
