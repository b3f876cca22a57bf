"""Errors of the state layer.

They are separate types because the runtime reacts to each differently: a corrupted store or
checkpoint is wiped and rebuilt from the changelog, a locked store must never be wiped (another
process may be using it), and a closed store is a programming error in the caller.
"""

from __future__ import annotations

from pathlib import Path

from kstreamy.errors import KStreamyError


class StateError(KStreamyError):
    """Base class of the state layer's errors."""


class StoreCorruptedError(StateError):
    """The store's files cannot be opened or read back.

    Local state is only a cache of the changelog, so the caller's remedy is to destroy the
    store directory, drop the task's checkpoint and restore from the changelog.
    """

    def __init__(self, path: Path, cause: BaseException) -> None:
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"state store at {self.path} is corrupted or unreadable: {cause}")


class StoreLockedError(StateError):
    """Another open handle (in this or another process) holds the store's lock.

    Deliberately not a :class:`StoreCorruptedError`: wiping a store that someone else is
    using would destroy live state, so the caller must wait or give the task up instead.
    """

    def __init__(self, path: Path, cause: BaseException) -> None:
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"state store at {self.path} is locked by another handle: {cause}")


class StoreClosedError(StateError):
    """The store was used after :meth:`close`; the same error whatever the backend."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"state store {name!r} is closed")


class CheckpointCorruptedError(StateError):
    """A checkpoint file exists but cannot be trusted.

    Raised rather than read as "no checkpoint" because an empty checkpoint next to a non-empty
    store is ambiguous: replaying a compacted changelog over it can resurrect deleted keys.
    The caller wipes the task's stores and the checkpoint, then restores from the changelog.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"checkpoint file {self.path} is unusable: {reason}")


class StateDiskError(StateError):
    """The disk under the state directory refuses writes: it is full or read-only.

    Not a :class:`StoreCorruptedError`: the state on it may be fine, and wiping it would not
    help (a restore needs the same space). The instance stops; the message says what to do.
    """

    def __init__(self, path: Path, problem: str, cause: BaseException) -> None:
        self.path = Path(path)
        self.problem = problem
        self.cause = cause
        if problem == "full":
            advice = (
                "free space on that file system (or give state_dir a bigger volume), then "
                "start the instance again"
            )
        else:
            advice = (
                "make it writable for the user running the instance (mount it read-write, "
                "chown it), or point the instance at a writable directory with "
                "`kstreamy run ... --state-dir DIR`"
            )
        super().__init__(
            f"state directory {self.path} is {problem} ({_reason(cause)}): {advice}. "
            "Local state is rebuilt from the changelogs if the directory is empty"
        )


def _reason(cause: BaseException) -> str:
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause).strip() or type(cause).__name__
