"""The order in which a commit happens, owned by exactly one object.

Every durability promise of kstreamy depends on this order, so it lives in one small class
with its own tests rather than being spread over the runtime loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Step = Callable[[], None]


class CommitSequence:
    """Run the steps of one commit in the only safe order.

    1. ``flush_sinks`` - outputs reach Kafka (or the user's sink) before anything claims
       their inputs are done; otherwise a crash could lose output for committed input.
    2. ``produce_changelogs`` - the buffered state writes join the same producer (and, under
       exactly-once, the same transaction) as the outputs.
    3. ``commit_transaction_and_offsets`` - the point of no return: outputs, changelog
       records and input offsets become visible together (exactly-once) or in this order
       (at-least-once).
    4. ``apply_state`` - only now are the buffered writes applied to the local stores, so
       local state never holds data whose input offsets are not committed; an aborted
       commit leaves the stores untouched and a crash needs no wipe.
    5. ``write_checkpoints`` - the stores are flushed and their changelog offsets recorded
       last, so a checkpoint never claims more than the stores durably hold.

    If a step up to and including 3 fails, ``abort`` discards the buffered state writes and
    the error is re-raised; steps 4 and 5 are skipped. If step 4 fails, checkpoints are not
    written and the error is re-raised: the commit stands, so the caller must treat the
    task's local state as stale and restore it from the changelog. If step 5 fails, the
    previous checkpoint stays, which is safe because it claims less.

    After :meth:`run`, :attr:`failed_step` names the step that raised (None on success) and
    :attr:`committed` says whether step 3 completed, so the caller can tell "nothing was
    committed" from "committed, but local state is behind".
    """

    STEPS: tuple[str, ...] = (
        "flush_sinks",
        "produce_changelogs",
        "commit_transaction_and_offsets",
        "apply_state",
        "write_checkpoints",
    )

    def __init__(
        self,
        *,
        flush_sinks: Step,
        produce_changelogs: Step,
        commit_transaction_and_offsets: Step,
        apply_state: Step,
        write_checkpoints: Step,
        abort: Step,
    ) -> None:
        self._steps: tuple[tuple[str, Step], ...] = (
            ("flush_sinks", flush_sinks),
            ("produce_changelogs", produce_changelogs),
            ("commit_transaction_and_offsets", commit_transaction_and_offsets),
            ("apply_state", apply_state),
            ("write_checkpoints", write_checkpoints),
        )
        self._abort = abort
        self.failed_step: str | None = None
        self.committed = False

    def run(self) -> None:
        """Run one commit; raises the first failing step's error unchanged."""
        self.failed_step = None
        self.committed = False
        for name, step in self._steps:
            try:
                step()
            except BaseException:
                self.failed_step = name
                if not self.committed:
                    self._run_abort(name)
                raise
            if name == "commit_transaction_and_offsets":
                self.committed = True

    def _run_abort(self, failed: str) -> None:
        # The original failure is what the caller must see; a failing abort is only logged.
        try:
            self._abort()
        except BaseException:
            log.exception("abort after failed commit step %r also failed", failed)
