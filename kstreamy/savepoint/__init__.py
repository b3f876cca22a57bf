"""Savepoints: user-triggered, retained snapshots of an application's input positions and state.

This package is the format - writing, reading and verifying savepoint directories - with no
broker access; taking one from running instances lives in :mod:`kstreamy.runtime` (the
instance side) and :mod:`kstreamy.ops` (the command side). The format is documented in
``docs/savepoint-format.md``.
"""

from kstreamy.savepoint.errors import (
    SavepointCompatibilityError,
    SavepointCorruptedError,
    SavepointError,
    SavepointFormatError,
)
from kstreamy.savepoint.format import FORMAT_VERSION, FileRef, Manifest, StoreInfo, TaskInfo
from kstreamy.savepoint.keys import record_key_of, register_store_kind
from kstreamy.savepoint.reader import Savepoint, list_savepoints
from kstreamy.savepoint.writer import SavepointWriter

__all__ = [
    "FORMAT_VERSION",
    "FileRef",
    "Manifest",
    "Savepoint",
    "SavepointCompatibilityError",
    "SavepointCorruptedError",
    "SavepointError",
    "SavepointFormatError",
    "SavepointWriter",
    "StoreInfo",
    "TaskInfo",
    "list_savepoints",
    "record_key_of",
    "register_store_kind",
]
