"""The order in which a commit happens, owned by exactly one object.

Every durability promise of kstreamy depends on this order, so it lives in one small class
with its own tests rather than being spread over the runtime loop.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Step = Callable[[], None]


class CommitOutcome(enum.Enum):
    """What a commit left behind, and so what the caller must do next."""

    COMMITTED = "committed"
    """Every step ran: outputs, offsets, stores and checkpoints agree."""
    NOT_COMMITTED = "not_committed"
    """A step up to the commit failed. Nothing of this commit counts: the buffered state
    writes were discarded, so the tasks must go back to their last committed input offsets
    (under exactly-once the transaction must be aborted) or the instance must stop."""
    STATE_BEHIND = "state_behind"
    """The commit stands but applying the buffered writes failed: the local stores of the
    tasks named in the error lag their changelogs and must be rebuilt from them."""
    CHECKPOINT_STALE = "checkpoint_stale"
    """Commit and stores stand; the previous checkpoint stays. Safe (it claims less), so a
    restart restores a little more than needed."""


@dataclasses.dataclass
class CommitResult:
    outcome: CommitOutcome
    failed_step: str | None = None
    error: Exception | None = None

    @property
    def committed(self) -> bool:
        """Whether the input offsets of this commit are committed."""
        return self.outcome is not CommitOutcome.NOT_COMMITTED


class StateApplyError(Exception):
    """Applying buffered writes failed for some tasks; the others were applied."""

    def __init__(self, failures: dict[str, Exception]) -> None:
        self.failures = failures
        detail = "; ".join(f"task {tid}: {exc}" for tid, exc in failures.items())
        super().__init__(f"applying committed state failed ({detail})")


class CommitSequence:
    """Run the steps of one commit in the only safe order.

    1. ``produce_changelogs`` - the buffered state writes become changelog records on the
       producer that also carries the outputs (and, under exactly-once, in its transaction).
    2. ``flush`` - every output and changelog record is acknowledged before anything claims
       their inputs are done; otherwise a crash could lose output for committed input. The
       delivery reports also give the changelog offsets the checkpoints will record.
    3. ``commit`` - the point of no return: outputs, changelog records and input offsets
       become visible together (exactly-once) or in this order (at-least-once).
    4. ``apply_state`` - only now are the buffered writes applied to the local stores, so
       local state never holds data whose input offsets are not committed; an aborted
       commit leaves the stores untouched and a crash needs no wipe.
    5. ``write_checkpoints`` - the stores are flushed and their changelog offsets recorded
       last, so a checkpoint never claims more than the stores durably hold.

    :meth:`run` returns a :class:`CommitResult` instead of raising, because each failure has a
    different remedy (see :class:`CommitOutcome`): before step 3 ``discard`` drops the buffered
    state writes (NOT_COMMITTED); in step 4 the failing tasks' state is behind (STATE_BEHIND,
    the step raises :class:`StateApplyError` naming them); in step 5 the old checkpoint stays
    (CHECKPOINT_STALE).
    """

    STEPS: tuple[str, ...] = (
        "produce_changelogs",
        "flush",
        "commit",
        "apply_state",
        "write_checkpoints",
    )

    def __init__(
        self,
        *,
        produce_changelogs: Step,
        flush: Step,
        commit: Step,
        apply_state: Step,
        write_checkpoints: Step,
        discard: Step,
    ) -> None:
        self._steps: tuple[tuple[str, Step], ...] = (
            ("produce_changelogs", produce_changelogs),
            ("flush", flush),
            ("commit", commit),
            ("apply_state", apply_state),
            ("write_checkpoints", write_checkpoints),
        )
        self._discard = discard

    def run(self) -> CommitResult:
        """Run one commit. Exceptions that are not ``Exception`` (interrupts) still propagate,
        after the buffered writes are discarded if nothing was committed yet."""
        committed = False
        for name, step in self._steps:
            try:
                step()
            except Exception as exc:
                if not committed:
                    self._run_discard(name)
                    return CommitResult(CommitOutcome.NOT_COMMITTED, name, exc)
                if name == "apply_state":
                    return CommitResult(CommitOutcome.STATE_BEHIND, name, exc)
                return CommitResult(CommitOutcome.CHECKPOINT_STALE, name, exc)
            except BaseException:
                if not committed:
                    self._run_discard(name)
                raise
            if name == "commit":
                committed = True
        return CommitResult(CommitOutcome.COMMITTED)

    def _run_discard(self, failed: str) -> None:
        # The original failure is what the caller must see; a failing discard is only logged.
        try:
            self._discard()
        except Exception:
            log.exception("discarding buffered writes after failed commit step %r failed", failed)
