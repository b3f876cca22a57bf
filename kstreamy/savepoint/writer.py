"""Writing a savepoint: snapshot files first, the manifest last.

A directory without a readable manifest is not a savepoint, so a crash half-way leaves nothing
that could be mistaken for one; :meth:`SavepointWriter.abort` removes the partial files.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from pathlib import Path

from kstreamy.savepoint.errors import SavepointError
from kstreamy.savepoint.format import MANIFEST, FileRef, Manifest
from kstreamy.savepoint.snapshot import InFlightRecord, write_records, write_sst
from kstreamy.savepoint.storage import SavepointStorage, open_storage


def new_savepoint_id(application_id: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{application_id}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def store_file(task_id: str, store: str) -> str:
    return f"tasks/{task_id}/{store}.sst"


def in_flight_file(topic: str, partition: int) -> str:
    return f"in_flight/{topic}/{partition}.jsonl"


class SavepointWriter:
    def __init__(self, storage: SavepointStorage, savepoint_id: str) -> None:
        self.storage = storage
        self.savepoint_id = savepoint_id

    @classmethod
    def create(cls, root: str | Path, application_id: str) -> SavepointWriter:
        """A new, empty savepoint directory under ``root``, named after the app and time."""
        savepoint_id = new_savepoint_id(application_id)
        location = f"{str(root).rstrip('/')}/{savepoint_id}"
        storage = open_storage(location)
        if storage.exists(""):
            raise SavepointError(f"savepoint location {location} exists already")
        storage.local_path(MANIFEST)  # creates the directory; the manifest comes last
        return cls(storage, savepoint_id)

    @property
    def location(self) -> str:
        return self.storage.location

    def write_store(
        self, task_id: str, store: str, entries: Iterable[tuple[bytes, bytes]]
    ) -> FileRef:
        rel = store_file(task_id, store)
        return write_sst(entries, self.storage.local_path(rel), rel)

    def write_in_flight(
        self, topic: str, partition: int, records: Iterable[InFlightRecord]
    ) -> FileRef:
        rel = in_flight_file(topic, partition)
        return write_records(records, self.storage.local_path(rel), rel)

    def finish(self, manifest: Manifest) -> str:
        """Write the manifest (atomically, last); returns the savepoint's location."""
        for label, ref in manifest.files():
            if ref.path is not None and not self.storage.exists(ref.path):
                raise SavepointError(f"cannot finish savepoint: file of {label} is missing")
        self.storage.write_atomic(MANIFEST, manifest.to_json())
        return self.location

    def abort(self) -> None:
        self.storage.delete("")
