"""A persistent key-value store on RocksDB (through rocksdict), one database per task and store.

Durability choice: writes skip the RocksDB write-ahead log. The changelog topic already is the
log of every write, so a second log on local disk would only double the write cost. What a
crash can lose is the memtable, i.e. writes since the last :meth:`RocksDBStore.flush`; that is
safe because the runtime flushes before each checkpoint file, so after a crash the store holds
at least what its checkpoint claims and restoration replays the changelog from there.

The store may also hold *more* than the checkpoint claims (RocksDB flushes full memtables in
the background). That is harmless: memtables are flushed whole and in order, so the files
always hold a prefix of the applied write batches, and replaying changelog records from the
checkpoint over such a prefix overwrites every key written since, converging on the same state.
"""

from __future__ import annotations

import re
import shutil
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn

from rocksdict import DbClosedError, Rdict, RdictIter, ReadOptions, WriteBatch, WriteOptions

from kstreamy.state.disk import disk_error
from kstreamy.state.errors import StoreClosedError, StoreCorruptedError, StoreLockedError
from kstreamy.state.resources import StoreResources

# RocksDB reports a held lock as an IO error naming the LOCK file; "block" (as in
# "block checksum mismatch") must not match, hence the case-sensitive word boundary.
_LOCK_MESSAGE = re.compile(r"\bLOCK\b|lock hold by|While lock file")
_CORRUPTION_MESSAGE = re.compile(r"^Corruption\b")


class RocksDBStore:
    """A :class:`~kstreamy.state.store.KeyValueStore` in one RocksDB directory.

    Opening fails with :class:`StoreCorruptedError` whenever RocksDB cannot open the directory
    for a reason other than a held lock or the disk, so the caller can :meth:`destroy` it and
    restore from the changelog; a held lock raises :class:`StoreLockedError` and a full or
    read-only disk :class:`~kstreamy.state.errors.StateDiskError` instead, neither of which must
    lead to a wipe. Reads that hit corrupted data later also raise :class:`StoreCorruptedError`.
    """

    persistent = True

    def __init__(self, name: str, path: Path, resources: StoreResources) -> None:
        self.name = name
        self.path = Path(path)
        # The shared cache and write buffer manager must outlive the database.
        self._resources = resources
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = Rdict(str(self.path), resources.options())
        except Exception as exc:
            if _LOCK_MESSAGE.search(str(exc)):
                raise StoreLockedError(self.path, exc) from exc
            disk = disk_error(self.path, exc)
            if disk is not None:
                raise disk from exc
            raise StoreCorruptedError(self.path, exc) from exc
        self._write_options = WriteOptions()
        self._write_options.disable_wal = True
        db.set_write_options(self._write_options)
        self._db: Rdict | None = db
        # Open iterators keep RocksDB (and its LOCK) alive after Rdict.close(); close() ends
        # them so the directory can be reopened or destroyed right away.
        self._scans: weakref.WeakSet[_Scan] = weakref.WeakSet()

    @staticmethod
    def destroy(path: Path) -> None:
        """Delete a store directory, whatever state its files are in.

        A plain recursive delete rather than RocksDB's DestroyDB, which needs to read the very
        files that may be corrupted. The store must be closed first.
        """
        path = Path(path)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)

    def _live(self) -> Rdict:
        if self._db is None:
            raise StoreClosedError(self.name)
        return self._db

    def _reraise(self, exc: Exception) -> NoReturn:
        if isinstance(exc, DbClosedError):
            raise StoreClosedError(self.name) from exc
        if _CORRUPTION_MESSAGE.match(str(exc)):
            raise StoreCorruptedError(self.path, exc) from exc
        disk = disk_error(self.path, exc)
        if disk is not None:
            raise disk from exc
        raise exc

    def get(self, key: bytes) -> bytes | None:
        db = self._live()
        try:
            return db.get(key)
        except Exception as exc:
            self._reraise(exc)

    def put(self, key: bytes, value: bytes) -> None:
        db = self._live()
        try:
            db.put(key, value)
        except Exception as exc:
            self._reraise(exc)

    def delete(self, key: bytes) -> None:
        db = self._live()
        try:
            db.delete(key)
        except Exception as exc:
            self._reraise(exc)

    def write_batch(self, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        db = self._live()
        batch = WriteBatch(raw_mode=True)
        put, delete = batch.put, batch.delete  # bound once: this loop runs per record
        for key, value in items:
            if value is None:
                delete(key)
            else:
                put(key, value)
        if batch.is_empty():
            return
        try:
            db.write(batch, self._write_options)
        except Exception as exc:
            self._reraise(exc)

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Scan a consistent snapshot taken when the call is made."""
        db = self._live()
        read_options = ReadOptions()
        if end is not None:
            read_options.set_iterate_upper_bound(end)
        try:
            it = db.iter(read_options)
            if start is None:
                it.seek_to_first()
            else:
                it.seek(start)
        except Exception as exc:
            self._reraise(exc)
        scan = _Scan(self, it, read_options)
        self._scans.add(scan)
        return scan

    def approximate_count(self) -> int:
        db = self._live()
        try:
            count = db.property_int_value("rocksdb.estimate-num-keys")
        except Exception as exc:
            self._reraise(exc)
        return int(count or 0)

    def approximate_size_bytes(self) -> int:
        """RocksDB's estimate of the live data size (SST files), for metrics."""
        db = self._live()
        try:
            size = db.property_int_value("rocksdb.estimate-live-data-size")
        except Exception as exc:
            self._reraise(exc)
        return int(size or 0)

    def flush(self) -> None:
        """Write memtables to SST files and wait, making every write so far durable.

        Needed because the write-ahead log is off: until this returns, recent writes live
        only in memory.
        """
        db = self._live()
        try:
            db.flush(True)
        except Exception as exc:
            self._reraise(exc)

    def close(self) -> None:
        """Flush and close; idempotent. Unfinished ``items()`` iterators are ended."""
        db, self._db = self._db, None
        if db is None:
            return
        for scan in list(self._scans):
            scan.release()
        self._scans.clear()
        db.close()

    def __repr__(self) -> str:
        return f"RocksDBStore({self.name!r}, {str(self.path)!r})"


class _Scan:
    """Iterator over a RocksDB range that the store can cut short.

    A live RocksDB iterator keeps the database (and its LOCK file) open even after
    ``Rdict.close()``, so the store releases every unfinished scan when it closes; a released
    scan then raises :class:`StoreClosedError` instead of silently ending.
    """

    __slots__ = ("__weakref__", "_done", "_it", "_options", "_store")

    def __init__(self, store: RocksDBStore, it: RdictIter, options: ReadOptions) -> None:
        self._store = store
        self._it: RdictIter | None = it
        # The iterator reads its upper bound from the options' memory: they must live as long.
        self._options = options
        self._done = False

    def __iter__(self) -> _Scan:
        return self

    def __next__(self) -> tuple[bytes, bytes]:
        it = self._it
        if it is None:
            if self._done:
                raise StopIteration
            raise StoreClosedError(self._store.name)
        try:
            if it.valid():
                item = (it.key(), it.value())
                it.next()
                return item
            it.status()
        except Exception as exc:
            self._finish()
            self._store._reraise(exc)
        self._finish()
        raise StopIteration

    def _finish(self) -> None:
        self._done = True
        self._it = None

    def release(self) -> None:
        """Drop the RocksDB iterator; later calls to ``next`` raise ``StoreClosedError``."""
        self._it = None
