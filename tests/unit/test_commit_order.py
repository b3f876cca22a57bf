"""CommitSequence: the order of a commit and the outcome of every failure path."""

from __future__ import annotations

import logging

import pytest

from kstreamy.runtime.commit_sequence import CommitOutcome, CommitSequence, StateApplyError

ORDER = ["produce_changelogs", "flush", "commit", "apply_state", "write_checkpoints"]


class Boom(Exception):
    pass


class Recorder:
    """Builds a CommitSequence whose steps log their calls and fail on request."""

    def __init__(
        self,
        fail_at: str | None = None,
        discard_fails: bool = False,
        error: BaseException | None = None,
    ) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at
        self.discard_fails = discard_fails
        self.error = error if error is not None else Boom(fail_at)

    def step(self, name: str):
        def run() -> None:
            self.calls.append(name)
            if name == self.fail_at:
                raise self.error

        return run

    def discard(self) -> None:
        self.calls.append("discard")
        if self.discard_fails:
            raise RuntimeError("discard failed too")

    def sequence(self) -> CommitSequence:
        return CommitSequence(**{name: self.step(name) for name in ORDER}, discard=self.discard)


def test_steps_constant_documents_the_order() -> None:
    assert list(CommitSequence.STEPS) == ORDER


def test_success_runs_every_step_in_order() -> None:
    recorder = Recorder()
    result = recorder.sequence().run()
    assert recorder.calls == ORDER
    assert result.outcome is CommitOutcome.COMMITTED
    assert result.failed_step is None and result.error is None
    assert result.committed


@pytest.mark.parametrize("failing", ORDER[:3])
def test_failure_up_to_commit_discards_and_skips_state(failing: str) -> None:
    recorder = Recorder(fail_at=failing)
    result = recorder.sequence().run()
    assert result.outcome is CommitOutcome.NOT_COMMITTED
    assert result.error is recorder.error
    assert result.failed_step == failing
    assert not result.committed
    done = ORDER[: ORDER.index(failing) + 1]
    assert recorder.calls == [*done, "discard"]


def test_apply_failure_reports_state_behind_and_skips_checkpoints() -> None:
    recorder = Recorder(fail_at="apply_state", error=StateApplyError({"0_1": OSError("disk")}))
    result = recorder.sequence().run()
    assert recorder.calls == ORDER[:4]
    assert result.outcome is CommitOutcome.STATE_BEHIND
    assert result.committed
    assert isinstance(result.error, StateApplyError)
    assert list(result.error.failures) == ["0_1"]
    assert "task 0_1: disk" in str(result.error)


def test_checkpoint_failure_leaves_the_commit_standing() -> None:
    recorder = Recorder(fail_at="write_checkpoints")
    result = recorder.sequence().run()
    assert recorder.calls == ORDER
    assert result.outcome is CommitOutcome.CHECKPOINT_STALE
    assert result.committed


def test_failing_discard_does_not_hide_the_original_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(fail_at="produce_changelogs", discard_fails=True)
    with caplog.at_level(logging.ERROR):
        result = recorder.sequence().run()
    assert result.error is recorder.error
    assert recorder.calls == ["produce_changelogs", "discard"]
    assert "after failed commit step 'produce_changelogs'" in caplog.text


def test_interrupt_during_commit_still_discards_and_propagates() -> None:
    recorder = Recorder(fail_at="commit", error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        recorder.sequence().run()
    assert recorder.calls[-1] == "discard"
    assert "apply_state" not in recorder.calls


def test_interrupt_after_commit_does_not_discard() -> None:
    recorder = Recorder(fail_at="apply_state", error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        recorder.sequence().run()
    assert "discard" not in recorder.calls


def test_sequence_is_reusable_across_commits() -> None:
    recorder = Recorder(fail_at="flush")
    sequence = recorder.sequence()
    assert sequence.run().outcome is CommitOutcome.NOT_COMMITTED
    recorder.fail_at = None
    recorder.calls.clear()
    assert sequence.run().outcome is CommitOutcome.COMMITTED
    assert recorder.calls == ORDER


def test_steps_are_keyword_only() -> None:
    recorder = Recorder()
    with pytest.raises(TypeError):
        CommitSequence(*[recorder.step(n) for n in ORDER], recorder.discard)  # type: ignore[misc]
