"""Check, at start, that a state directory belongs to this application and this topology.

``<state_dir>/<app_id>`` holds one directory per task (``<subtopology>_<partition>``) and one
per store inside it. Two kinds of foreign content can be found there, and they are treated the
way a Kafka Streams user expects:

- **Another application's directory** (copied, renamed, or a volume mounted at the wrong
  path): refused with an error naming both application ids and the command that clears it.
  Kafka Streams keys the directory by ``application.id`` so this cannot happen by accident
  there; when it does happen here it is a deployment mistake, and the directory may belong to
  an application that is still running elsewhere, so wiping it on our own authority could
  destroy live state. The owner is recorded in :data:`OWNER_FILE`; a directory without one
  (made before the file existed, or fresh) is claimed.
- **Another version of this application's topology** (a store removed or moved to another
  sub-topology, a sub-topology removed): task and store directories the current topology
  does not have are deleted with a warning. This is what Kafka Streams' state cleaner does with
  task directories nobody owns, only at once rather than after ``state.cleanup.delay.ms``:
  they are a cache of changelogs this version no longer reads, no task of this version can
  open them, and a later version that brings a store back must not find stale files for it.
  Stores the topology does have are left to :class:`~kstreamy.state.state_manager.StateManager`,
  which trusts them only together with their checkpoint.

Only names shaped like a task id, and directories inside them, are ever deleted: the lock,
the instance id, the status file and anything an operator put there are left alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping, Set
from pathlib import Path

from kstreamy.errors import ConfigError

log = logging.getLogger("kstreamy.state")

OWNER_FILE = "application.id"
_TASK_DIR = re.compile(r"^(\d+)_(\d+)$")


class ForeignStateDirError(ConfigError):
    """The state directory holds another application's state."""

    def __init__(self, directory: Path, owner: str, application_id: str) -> None:
        self.directory = directory
        self.owner = owner
        super().__init__(
            f"state directory {directory} holds the state of application {owner!r} (see "
            f"{directory / OWNER_FILE}), not of {application_id!r}: it was copied, renamed or "
            "mounted at the wrong path. If that state is not needed, delete it with "
            f"`rm -rf {directory}` (this application's state is rebuilt from its changelogs); "
            "otherwise point state_dir elsewhere"
        )


def claim(directory: Path, application_id: str) -> None:
    """Record ``application_id`` as the owner of ``directory``, or refuse another owner's."""
    path = directory / OWNER_FILE
    try:
        owner = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        owner = ""
    except UnicodeDecodeError:
        owner = ""  # garbage: nobody's claim; ours replaces it
    if owner == application_id:
        return
    if owner:
        raise ForeignStateDirError(directory, owner, application_id)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{OWNER_FILE}.{os.getpid()}.tmp")
    tmp.write_text(application_id + "\n", encoding="utf-8")
    os.replace(tmp, path)


def remove_stale(directory: Path, stores_by_subtopology: Mapping[int, Set[str]]) -> list[Path]:
    """Delete task and store directories the topology does not have; return what was deleted.

    ``stores_by_subtopology``: sub-topology id -> names of its stores kept on disk, for every
    sub-topology with state (a task of one with in-memory stores only still keeps its
    checkpoint file: watermarks and the reset generation). Others keep no task directories.
    """
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in sorted(directory.iterdir()):
        match = _TASK_DIR.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        stores = stores_by_subtopology.get(int(match.group(1)))
        if stores is None:
            log.warning(
                "%s: task %s is not part of this topology (changed since the state was "
                "written?); deleting its local state",
                entry,
                entry.name,
            )
            shutil.rmtree(entry)
            removed.append(entry)
            continue
        for store_dir in sorted(entry.iterdir()):
            if store_dir.is_dir() and not store_dir.is_symlink() and store_dir.name not in stores:
                log.warning(
                    "%s: task %s has no store %r in this topology (changed since the state was "
                    "written?); deleting it",
                    store_dir,
                    entry.name,
                    store_dir.name,
                )
                shutil.rmtree(store_dir)
                removed.append(store_dir)
    return removed
