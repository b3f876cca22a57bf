"""A throw-away sorted store on local disk, for folding changelogs and regrouping keys.

Savepoint tooling handles stores of any size; a Python dict would hold them all in memory, a
scratch RocksDB database keeps them on disk and hands them back in key order, which is what
SST files and changelog partitions want.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from rocksdict import Options, Rdict, WriteBatch, WriteOptions


class ScratchStore:
    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="kstreamy-scratch-"))
        self._db: Rdict | None = Rdict(str(self._dir / "db"), Options(raw_mode=True))
        self._write_options = WriteOptions()
        self._write_options.disable_wal = True

    def write(self, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply writes in order; a None value deletes the key (a tombstone)."""
        assert self._db is not None
        batch = WriteBatch(raw_mode=True)
        for key, value in items:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if not batch.is_empty():
            self._db.write(batch, self._write_options)

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        assert self._db is not None
        it = self._db.iter()
        if start is None:
            it.seek_to_first()
        else:
            it.seek(start)
        while it.valid():
            key = it.key()
            if end is not None and key >= end:
                break
            yield key, it.value()
            it.next()

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ScratchStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
