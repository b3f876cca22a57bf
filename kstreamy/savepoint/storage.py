"""Where savepoint files live, behind a small interface.

Today a savepoint is a local directory (or one on a shared file system that every instance can
reach). Object storage (``s3://...``) needs only another implementation of
:class:`SavepointStorage`; nothing above this module touches paths directly except through
:meth:`SavepointStorage.local_path`, which an object store would serve from a local cache.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from kstreamy.savepoint.errors import SavepointError
from kstreamy.state.checkpoint import fsync_dir


class SavepointStorage(Protocol):
    """Relative paths (``tasks/0_1/counts.sst``) inside one savepoint location."""

    location: str

    def local_path(self, rel: str) -> Path:
        """A local file to write ``rel`` to (RocksDB writes local files only)."""
        ...

    def read_path(self, rel: str) -> Path:
        """A local file holding ``rel``, for reading (nothing is created)."""
        ...

    def exists(self, rel: str) -> bool: ...

    def size(self, rel: str) -> int: ...

    def open_read(self, rel: str) -> BinaryIO: ...

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` so that a reader sees the old content or the new, never a mix."""
        ...

    def move(self, src: str, dst: str) -> None: ...

    def delete(self, rel: str) -> None:
        """Delete a file or a whole sub-tree; missing is fine."""
        ...

    def children(self, rel: str = "") -> Iterator[str]:
        """Names directly under ``rel``."""
        ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.location = str(self.root)

    def _path(self, rel: str) -> Path:
        path = (self.root / rel).resolve() if rel else self.root
        if path != self.root and self.root not in path.parents:
            raise SavepointError(f"savepoint {self.location}: path {rel!r} leaves the savepoint")
        return path

    def local_path(self, rel: str) -> Path:
        path = self._path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def read_path(self, rel: str) -> Path:
        return self._path(rel)

    def exists(self, rel: str) -> bool:
        return self._path(rel).exists()

    def size(self, rel: str) -> int:
        return self._path(rel).stat().st_size

    def open_read(self, rel: str) -> BinaryIO:
        return open(self._path(rel), "rb")

    def write_atomic(self, rel: str, data: bytes) -> None:
        path = self.local_path(rel)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def move(self, src: str, dst: str) -> None:
        target = self.local_path(dst)
        os.replace(self._path(src), target)

    def delete(self, rel: str) -> None:
        path = self._path(rel)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def children(self, rel: str = "") -> Iterator[str]:
        path = self._path(rel)
        if path.is_dir():
            yield from sorted(p.name for p in path.iterdir())


def open_storage(location: str | Path) -> SavepointStorage:
    """The storage for a savepoint location: a local path today."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        scheme = text.split("://", 1)[0]
        raise SavepointError(
            f"savepoint location {text}: {scheme}:// storage is not supported yet; "
            "use a local (or shared) directory"
        )
    return LocalStorage(Path(text.removeprefix("file://")))
