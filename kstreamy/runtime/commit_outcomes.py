"""What a commit's outcome (or a store found corrupt) means for the instance, and what is done.

:class:`~kstreamy.runtime.commit_manager.CommitManager` commits and reports a
:class:`~kstreamy.runtime.commit_sequence.CommitResult`; it never decides. This is where it is
decided:

- abortable transaction error: abort, rewind every task to its last committed offsets and state;
- fatal producer error (fenced): drop every task uncommitted; the instance builds new clients
  and rejoins (``needs_rejoin``);
- state behind after a commit: rebuild the affected tasks' stores from their changelogs;
- a full or read-only state disk: stop, with the directory and what to do (no wipe, no retry);
- anything else before the commit point: stop the instance (its inputs stay uncommitted);
- a store found corrupt while in use: every task goes back to its last commit, the damaged
  task's local state is wiped and restored from its changelogs.

The same rules serve the group's callbacks: a commit before partitions are revoked, an abort
when they are lost.
"""

from __future__ import annotations

import logging

from kstreamy.config import AppConfig
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.commit_sequence import CommitOutcome, CommitResult, StateApplyError
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.savepoint_hook import SavepointHook
from kstreamy.runtime.state_failures import disk_error_behind, store_owner
from kstreamy.runtime.task import Task
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.runtime.transactions import AbortableTransactionError, FatalTransactionError
from kstreamy.state.errors import StoreCorruptedError

log = logging.getLogger("kstreamy.instance")


class CommitOutcomes:
    def __init__(self, config: AppConfig, commits: CommitManager, metrics: Metrics) -> None:
        self.config = config
        self.commits = commits
        self.metrics = metrics
        self.tasks: TaskManager | None = None
        self.savepoints: SavepointHook | None = None
        self.needs_rejoin = False
        """A fatal producer error dropped the tasks: nothing may be committed until the
        instance has new clients and has rejoined the group."""

    def commit(self) -> None:
        """Commit every active task and act on the outcome."""
        if self.needs_rejoin or self.tasks is None:
            return  # a fatal error already dropped the tasks; nothing may be committed
        active = self.tasks.active()
        result = self.commits.commit(active)
        self.act_on(result, active)
        if self.savepoints is not None and not self.needs_rejoin:
            self.savepoints.after_commit(result)

    def act_on(self, result: CommitResult, tasks: list[Task]) -> None:
        assert self.tasks is not None
        outcome, error = result.outcome, result.error
        if outcome is CommitOutcome.COMMITTED:
            return
        disk = disk_error_behind(error, self.config.app_state_dir)
        if disk is not None:
            raise disk  # rebuilding or retrying needs the disk this error says is unusable
        if outcome is CommitOutcome.STATE_BEHIND:
            assert isinstance(error, StateApplyError)
            log.error("%s", error)
            self.tasks.rebuild(list(error.failures))
        elif outcome is CommitOutcome.CHECKPOINT_STALE:
            log.warning("writing checkpoints failed (the previous ones stay): %s", error)
        elif isinstance(error, AbortableTransactionError):
            log.warning("transaction aborted (%s); rewinding tasks to their last commit", error)
            self.abort_and_rewind(tasks)
        elif isinstance(error, FatalTransactionError):
            log.error("%s", error)
            self.tasks.close_all(clean=False)
            self.needs_rejoin = True
        else:
            assert error is not None
            raise error

    def abort_and_rewind(self, tasks: list[Task]) -> None:
        """Abort the open transaction; every task goes back to its last committed input
        offsets, and its buffered state writes are dropped (the stores hold committed state)."""
        assert self.tasks is not None
        try:
            self.commits.abort()
        except FatalTransactionError as exc:
            log.error("%s", exc)
            self.needs_rejoin = True
            return
        self.metrics.transactions_aborted += 1
        for task in tasks:
            task.discard()
            self.tasks.rewind(task)

    def commit_before_revoke(self) -> bool:
        if self.needs_rejoin:
            return False
        try:
            self.commit()
        except Exception as exc:
            log.error("commit on revocation failed (records will be reprocessed): %s", exc)
            return False
        return not self.needs_rejoin

    def abort_for_lost(self, lost: set[str]) -> None:
        assert self.tasks is not None
        if self.commits.transaction_open:
            # The open transaction holds records of the lost tasks too: abort it, rewind the rest.
            kept = [t for t in self.tasks.active() if t.id not in lost]
            self.abort_and_rewind(kept)

    def commit_quietly(self) -> None:
        try:
            self.commit()
        except Exception as exc:
            log.error("final commit failed: %s", exc)

    def rebuild_corrupt_store(self, exc: StoreCorruptedError) -> None:
        """A read found damaged files (RocksDB checks block checksums as it reads; opening a
        store does not read every block). The batch stopped halfway, so every active task goes
        back to its last commit, its buffered writes dropped (under exactly-once the open
        transaction is aborted); then the damaged task is wiped and restored like a new one."""
        tasks = self.tasks
        assert tasks is not None
        owner = store_owner(tasks.tasks.values(), exc)
        if owner is None:
            raise exc  # not a store of a task here: nothing known to rebuild
        log.warning(
            "task %s: %s; going back to the last commit, wiping the task's local state and "
            "restoring it from the changelogs",
            owner,
            exc,
        )
        active = tasks.active()
        if self.commits.transaction_open:
            self.abort_and_rewind(active)
        else:
            for task in active:
                task.discard()
                tasks.rewind(task)
        tasks.rebuild([owner], reason="a store is corrupt")
