"""Opening, verifying and reading a savepoint.

Every consumer of a savepoint (inspect, verify, query, export, reset) opens it here, so the
checks are the same everywhere and happen before anything is changed: the manifest parses and
has a known format version, it belongs to the expected application, and every file it names
exists with the recorded size and sha256.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

from kstreamy.savepoint.errors import (
    SavepointCorruptedError,
    SavepointError,
    SavepointFormatError,
)
from kstreamy.savepoint.format import MANIFEST, Manifest, parse_manifest
from kstreamy.savepoint.snapshot import InFlightRecord, read_records, read_sst, sha256_file
from kstreamy.savepoint.storage import SavepointStorage, open_storage


class Savepoint:
    def __init__(self, storage: SavepointStorage, manifest: Manifest) -> None:
        self.storage = storage
        self.manifest = manifest

    @property
    def location(self) -> str:
        return self.storage.location

    @classmethod
    def open(cls, location: str | Path, application_id: str | None = None) -> Savepoint:
        """Read the manifest; with ``application_id``, refuse another application's savepoint."""
        storage = open_storage(location)
        if not storage.exists(""):
            raise SavepointError(f"savepoint {storage.location} does not exist")
        if not storage.exists(MANIFEST):
            raise SavepointFormatError(
                storage.location, f"no {MANIFEST} (not a savepoint, or one that never finished)"
            )
        with storage.open_read(MANIFEST) as fh:
            manifest = parse_manifest(fh.read(), storage.location)
        if application_id is not None and manifest.application_id != application_id:
            raise SavepointError(
                f"savepoint {storage.location} belongs to application "
                f"{manifest.application_id!r}, not {application_id!r}"
            )
        return cls(storage, manifest)

    def verify(self, progress: Callable[[int], None] | None = None) -> int:
        """Check every file's presence, size and sha256; return the bytes checked.

        All problems are collected and reported together (one error naming each file).
        """
        problems = []
        checked = 0
        for label, ref in self.manifest.files():
            if ref.path is None:
                if ref.entries:
                    problems.append(f"{label}: {ref.entries} entries but no file")
                continue
            if not self.storage.exists(ref.path):
                problems.append(f"{label}: file {ref.path} is missing")
                continue
            size = self.storage.size(ref.path)
            if size != ref.bytes:
                problems.append(f"{label}: {ref.path} has {size} bytes, expected {ref.bytes}")
                continue
            digest = sha256_file(self.storage.read_path(ref.path))
            if digest != ref.sha256:
                problems.append(f"{label}: {ref.path} checksum mismatch (sha256 {digest[:12]}…)")
            checked += size
            if progress is not None:
                progress(size)
        if problems:
            raise SavepointCorruptedError(self.location, problems)
        return checked

    def total_bytes(self) -> int:
        return sum(ref.bytes for _, ref in self.manifest.files())

    def store_entries(self, task_id: str, store: str) -> Iterator[tuple[bytes, bytes]]:
        """Raw entries of one store of one task, in key order."""
        task = self.manifest.tasks.get(task_id)
        if task is None:
            raise SavepointError(f"savepoint {self.location} has no task {task_id}")
        ref = task.stores.get(store)
        if ref is None:
            raise SavepointError(f"savepoint {self.location}: task {task_id} has no store {store}")
        if ref.path is None:
            return iter(())
        return read_sst(self.storage.read_path(ref.path))

    def tasks_with_store(self, store: str) -> list[str]:
        return sorted(tid for tid, t in self.manifest.tasks.items() if store in t.stores)

    def in_flight(self, topic: str, partition: int) -> Iterator[InFlightRecord]:
        ref = self.manifest.in_flight.get(topic, {}).get(partition)
        if ref is None or ref.path is None:
            return iter(())
        return read_records(self.storage.read_path(ref.path))


@dataclasses.dataclass
class Listed:
    location: str
    manifest: Manifest | None
    error: str | None


def list_savepoints(root: str | Path) -> list[Listed]:
    """Savepoints directly under ``root`` (unreadable ones listed with their error)."""
    storage = open_storage(root)
    found = []
    for name in storage.children():
        if not storage.exists(f"{name}/{MANIFEST}"):
            continue
        location = f"{storage.location}/{name}"
        try:
            found.append(Listed(location, Savepoint.open(location).manifest, None))
        except SavepointError as exc:
            found.append(Listed(location, None, str(exc)))
    found.sort(key=lambda s: (s.manifest.created_at if s.manifest else "", s.location))
    return found
