"""Which failures of local state the instance can act on, told apart from the rest.

A store found corrupt while in use belongs to one task, which is rebuilt from its changelogs;
a full or read-only disk is not corruption and no rebuild can help, so the instance stops and
says so (see :mod:`kstreamy.state.disk`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kstreamy.runtime.commit_sequence import StateApplyError
from kstreamy.runtime.task import Task
from kstreamy.state.disk import disk_error
from kstreamy.state.errors import StateDiskError, StoreCorruptedError


def store_owner(tasks: Iterable[Task], exc: StoreCorruptedError) -> str | None:
    """The id of the task holding the corrupt store at ``exc.path``; None if none here does."""
    for task in tasks:
        if task.state is not None and any(
            getattr(store, "path", None) == exc.path for store in task.state.stores.values()
        ):
            return task.id
    return None


def disk_error_behind(error: Exception | None, app_state_dir: Path) -> StateDiskError | None:
    """The full or read-only disk behind a failed commit step, if that is what failed."""
    if isinstance(error, StateApplyError):
        found = (disk_error_behind(e, app_state_dir) for e in error.failures.values())
        return next((e for e in found if e is not None), None)
    if isinstance(error, StateDiskError):
        return error
    if isinstance(error, OSError):  # the checkpoint file's own write
        return disk_error(app_state_dir, error)
    return None
