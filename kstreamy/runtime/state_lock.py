"""One instance per state directory.

Two instances sharing ``<state_dir>/<app_id>`` would share an instance id (and so a transactional
id, fencing each other under exactly-once), overwrite each other's status file and fight over the
RocksDB locks of the tasks they both get. An advisory lock taken at start turns that into a
clear error instead. The operating system releases it when the process dies, even on SIGKILL.

The file keeps the pid of its last holder. A dead holder's pid is left behind after a crash; the
lock itself is free then, so the next instance takes it over and says so (an operator looking
for why the previous process stopped wants to see that it did). A live holder is refused with
its pid and the directory, the two things needed to decide which process to stop.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from kstreamy.errors import ConfigError

log = logging.getLogger("kstreamy.instance")

LOCK_FILE = ".lock"


class StateDirLock:
    def __init__(self, app_state_dir: Path) -> None:
        self.path = app_state_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the instance
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"state directory {self.path.parent} is in use by a running instance "
                f"(pid {holder}); give every instance its own state_dir "
                "(`kstreamy run ... --state-dir DIR`), or stop that process first"
            ) from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous and previous != str(os.getpid()):
            log.warning(
                "state directory %s: lock left by pid %s, which exited without releasing it; "
                "taken over",
                self.path.parent,
                previous,
            )
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Unlock; the pid is erased first, so only a holder that died leaves one behind."""
        if self._file is not None:
            try:
                self._file.seek(0)
                self._file.truncate()
                self._file.flush()
            except OSError:
                pass  # a full or read-only disk: the pid stays and the next start reports it
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
