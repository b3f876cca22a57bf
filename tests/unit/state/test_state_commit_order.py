"""CommitSequence: the order of a commit and every failure path."""

from __future__ import annotations

import logging

import pytest

from kstreamy.state import CommitSequence

ORDER = [
    "flush_sinks",
    "produce_changelogs",
    "commit_transaction_and_offsets",
    "apply_state",
    "write_checkpoints",
]


class Boom(Exception):
    pass


class Recorder:
    """Builds a CommitSequence whose steps log their calls and fail on request."""

    def __init__(
        self,
        fail_at: str | None = None,
        abort_fails: bool = False,
        error: BaseException | None = None,
    ) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at
        self.abort_fails = abort_fails
        self.error = error if error is not None else Boom(fail_at)

    def step(self, name: str):
        def run() -> None:
            self.calls.append(name)
            if name == self.fail_at:
                raise self.error

        return run

    def abort(self) -> None:
        self.calls.append("abort")
        if self.abort_fails:
            raise RuntimeError("abort failed too")

    def sequence(self) -> CommitSequence:
        return CommitSequence(**{name: self.step(name) for name in ORDER}, abort=self.abort)


def test_steps_constant_documents_the_order() -> None:
    assert list(CommitSequence.STEPS) == ORDER


def test_success_runs_every_step_in_order() -> None:
    recorder = Recorder()
    sequence = recorder.sequence()
    sequence.run()
    assert recorder.calls == ORDER
    assert sequence.failed_step is None
    assert sequence.committed


@pytest.mark.parametrize("failing", ORDER[:3])
def test_failure_up_to_commit_aborts_and_skips_state(failing: str) -> None:
    recorder = Recorder(fail_at=failing)
    sequence = recorder.sequence()
    with pytest.raises(Boom) as info:
        sequence.run()
    assert info.value is recorder.error
    done = ORDER[: ORDER.index(failing) + 1]
    assert recorder.calls == [*done, "abort"]
    assert "apply_state" not in recorder.calls
    assert "write_checkpoints" not in recorder.calls
    assert sequence.failed_step == failing
    assert not sequence.committed


def test_apply_failure_skips_checkpoints_without_abort() -> None:
    recorder = Recorder(fail_at="apply_state")
    sequence = recorder.sequence()
    with pytest.raises(Boom):
        sequence.run()
    assert recorder.calls == ORDER[:4]
    assert sequence.failed_step == "apply_state"
    assert sequence.committed


def test_checkpoint_failure_is_reraised_without_abort() -> None:
    recorder = Recorder(fail_at="write_checkpoints")
    sequence = recorder.sequence()
    with pytest.raises(Boom):
        sequence.run()
    assert recorder.calls == ORDER
    assert sequence.failed_step == "write_checkpoints"
    assert sequence.committed


def test_failing_abort_does_not_hide_the_original_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(fail_at="produce_changelogs", abort_fails=True)
    with caplog.at_level(logging.ERROR), pytest.raises(Boom):
        recorder.sequence().run()
    assert recorder.calls == ["flush_sinks", "produce_changelogs", "abort"]
    assert "abort after failed commit step 'produce_changelogs'" in caplog.text


def test_interrupt_during_commit_still_aborts() -> None:
    recorder = Recorder(fail_at="commit_transaction_and_offsets", error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        recorder.sequence().run()
    assert recorder.calls[-1] == "abort"
    assert "apply_state" not in recorder.calls


def test_sequence_is_reusable_across_commits() -> None:
    recorder = Recorder(fail_at="flush_sinks")
    sequence = recorder.sequence()
    with pytest.raises(Boom):
        sequence.run()
    recorder.fail_at = None
    recorder.calls.clear()
    sequence.run()
    assert recorder.calls == ORDER
    assert sequence.failed_step is None
    assert sequence.committed


def test_steps_are_keyword_only() -> None:
    recorder = Recorder()
    with pytest.raises(TypeError):
        CommitSequence(*[recorder.step(n) for n in ORDER], recorder.abort)  # type: ignore[misc]
