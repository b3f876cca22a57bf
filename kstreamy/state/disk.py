"""Tell a state directory the disk cannot write to from one whose data is damaged.

The two call for opposite remedies. Damaged data is only a cache of the changelog: wipe it and
restore. A full or read-only disk is the operator's to fix: wiping would throw away good state
(and free space that a restore fills again at once), and retrying turns into a loop that
restores, fails and restores again. So a disk problem stops the instance with one error naming
the directory and what to do, and is never treated as corruption.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path

from kstreamy.state.errors import StateDiskError

_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)

# RocksDB reports file system failures as "IO error: <strerror>"; the strerror tells which.
_ROCKSDB_FULL = re.compile(r"No space left on device|Disk quota exceeded", re.IGNORECASE)
_ROCKSDB_READ_ONLY = re.compile(r"Read-only file system|Permission denied", re.IGNORECASE)

PROBE_FILE = ".write-probe"
PROBE_BYTES = 64 * 1024
"""Big enough that a file system with only a few blocks left fails the probe at start, rather
than RocksDB failing halfway through a restoration."""


def disk_problem(exc: BaseException) -> str | None:
    """``"full"``, ``"read-only"`` or None: whether ``exc`` is the disk refusing writes."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _FULL:
            return "full"
        if exc.errno in _READ_ONLY:
            return "read-only"
        return None
    text = str(exc)
    if _ROCKSDB_FULL.search(text):
        return "full"
    if _ROCKSDB_READ_ONLY.search(text):
        return "read-only"
    return None


def disk_error(path: Path, exc: BaseException) -> StateDiskError | None:
    """The :class:`StateDiskError` to raise for ``exc`` at ``path``, or None if ``exc`` is
    something else (corruption, a lock, a bug)."""
    problem = disk_problem(exc)
    if problem is None:
        return None
    return StateDiskError(path, problem, exc)


def check_writable(directory: Path) -> None:
    """Create ``directory`` and write, sync and remove a probe file in it.

    Run once at start, before the lock, the instance id or any store touches the directory:
    it turns a read-only or full disk into one clear :class:`StateDiskError` instead of an
    ``OSError`` from whichever write happens to come first.
    """
    probe = directory / PROBE_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"\0" * PROBE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        error = disk_error(directory, exc)
        if error is None:
            raise
        raise error from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
