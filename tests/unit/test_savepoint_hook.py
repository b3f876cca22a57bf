"""The instance side of a live savepoint, driven step by step: which task is snapshotted when,
what is held, what resumes. The control topic and the task manager are small stand-ins; the
stores and snapshot files are real."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kstreamy import App
from kstreamy.config import AppConfig
from kstreamy.runtime.commit_sequence import CommitOutcome, CommitResult
from kstreamy.runtime.savepoint_hook import SavepointHook
from kstreamy.savepoint.snapshot import read_sst
from kstreamy.state.memory_store import InMemoryStore
from kstreamy.topic_plan import plan_topics

COMMITTED = CommitResult(CommitOutcome.COMMITTED)


class Channel:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.inbox: list[dict] = []

    def send(self, record: dict) -> int:
        self.sent.append(record)
        return len(self.sent)

    def poll(self, timeout: float = 0.0) -> list[dict]:
        records, self.inbox = self.inbox, []
        return records


class Tasks:
    """What the hook uses of the TaskManager."""

    def __init__(self, plan) -> None:
        self.plan = plan
        self.tasks: dict[str, SimpleNamespace] = {}
        self.suspended: list[str] = []
        self.resumed: list[str] = []

    def active(self):
        return list(self.tasks.values())

    def suspend(self, task) -> None:
        self.suspended.append(task.id)

    def unsuspend(self, task) -> None:
        self.resumed.append(task.id)

    def group_consumer(self):
        return None


def _task(sub, partition: int, entries: dict[bytes, bytes]):
    store = InMemoryStore("s")
    store.write_batch(entries.items())
    state = SimpleNamespace(
        stores={"s": store}, changelog_offsets={"cl": 7}, metadata={"watermarks": {"in": 5}}
    )
    return SimpleNamespace(
        id=f"{sub.id}_{partition}",
        subtopology=sub,
        partition=partition,
        positions={t: 100 + partition for t in sub.source_topics},
        state=state,
    )


@pytest.fixture
def setup(tmp_path, monkeypatch):
    app = App("hook")
    (
        app.stream("in", key_serde="str", value_serde="json")
        .group_by(lambda k, v: v["g"], name="regroup", key_serde="str")
        .count(store="per-group")
        .to("out", value_serde="int")
    )
    topology = app.topology
    plan = plan_topics(topology, {"in": 2})
    tasks = Tasks(plan)
    stopped: list[bool] = []
    hook = SavepointHook(
        topology, AppConfig.build("hook"), tasks, None, "me", lambda: stopped.append(True)
    )
    channel = Channel()
    hook._channel = channel
    monkeypatch.setattr(hook, "_caught_up", lambda task: True)
    root, downstream = topology.subtopologies()
    return SimpleNamespace(
        hook=hook, tasks=tasks, channel=channel, root=root, down=downstream, stopped=stopped,
        location=str(tmp_path / "sp"),
    )  # fmt: skip


def _request(s, stop=False, deadline=None, rid="r1") -> None:
    s.channel.inbox.append(
        {
            "type": "savepoint",
            "id": rid,
            "location": s.location,
            "stop": stop,
            "deadline": deadline or time.time() + 60,
        }
    )


def _acked(s) -> list[str]:
    return [r["task"] for r in s.channel.sent if r["type"] == "ack"]


def test_roots_first_then_readers_of_sealed_repartition_topics(setup):
    s = setup
    s.tasks.tasks = {
        "0_0": _task(s.root, 0, {b"a": b"1"}),
        "1_0": _task(s.down, 0, {b"g": b"2"}),
    }
    _request(s)
    assert s.hook.poll() is True  # a commit is wanted now
    s.hook.after_commit(COMMITTED)
    # 1_0 reads the repartition topic that 0_1 (elsewhere) still writes: not yet.
    assert _acked(s) == ["0_0"] and s.tasks.suspended == ["0_0"]
    ack = s.channel.sent[0]
    assert ack["input_offsets"] == {"in": 100}
    assert ack["metadata"] == {"watermarks": {"in": 5}}
    ref = ack["stores"]["s"]
    files = list(read_sst(Path(s.location) / ref["path"]))
    assert files == [(b"a", b"1")]

    s.channel.inbox.append({"type": "ack", "id": "r1", "task": "0_1"})
    s.hook.poll()
    s.hook.after_commit(COMMITTED)
    assert _acked(s) == ["0_0", "1_0"]
    assert s.tasks.suspended == ["0_0", "1_0"]

    s.channel.inbox.append({"type": "done", "id": "r1", "outcome": "complete"})
    s.hook.poll()
    assert sorted(s.tasks.resumed) == ["0_0", "1_0"] and not s.stopped


def test_a_failed_commit_takes_no_snapshot(setup):
    s = setup
    s.tasks.tasks = {"0_0": _task(s.root, 0, {})}
    _request(s)
    s.hook.poll()
    s.hook.after_commit(CommitResult(CommitOutcome.NOT_COMMITTED, "commit", RuntimeError()))
    s.hook.after_commit(CommitResult(CommitOutcome.STATE_BEHIND, "apply_state", RuntimeError()))
    assert _acked(s) == []


def test_a_task_snapshotted_elsewhere_is_held_when_it_arrives(setup):
    s = setup
    _request(s)
    s.channel.inbox.append({"type": "ack", "id": "r1", "task": "0_1"})
    s.hook.poll()
    s.tasks.tasks = {"0_1": _task(s.root, 1, {})}
    s.hook.tasks_changed()
    assert s.tasks.suspended == ["0_1"]
    s.hook.after_commit(COMMITTED)
    assert _acked(s) == []  # not snapshotted twice


def test_stop_with_savepoint_stops_after_a_complete_savepoint_only(setup):
    s = setup
    s.tasks.tasks = {"0_0": _task(s.root, 0, {})}
    _request(s, stop=True, rid="aborted")
    s.hook.poll()
    s.hook.after_commit(COMMITTED)
    s.channel.inbox.append({"type": "done", "id": "aborted", "outcome": "aborted"})
    s.hook.poll()
    assert not s.stopped and s.tasks.resumed == ["0_0"]

    _request(s, stop=True, rid="r2")
    s.hook.poll()
    s.hook.after_commit(COMMITTED)
    s.channel.inbox.append({"type": "done", "id": "r2", "outcome": "complete"})
    s.hook.poll()
    assert s.stopped == [True]
    assert s.tasks.resumed == ["0_0"]  # held until the instance stops


def test_a_request_past_its_deadline_resumes_the_tasks(setup):
    s = setup
    s.tasks.tasks = {"0_0": _task(s.root, 0, {})}
    _request(s, deadline=time.time() + 0.3)
    s.hook.poll()
    s.hook.after_commit(COMMITTED)
    assert s.tasks.suspended == ["0_0"]
    deadline = time.monotonic() + 5
    while not s.tasks.resumed and time.monotonic() < deadline:
        s.hook.poll()
        time.sleep(0.05)
    assert s.tasks.resumed == ["0_0"]


def test_requests_over_before_start_are_ignored(setup):
    s = setup
    s.hook._handle(
        {"type": "savepoint", "id": "old", "location": s.location, "stop": True,
         "deadline": time.time() + 60},
        backlog=True,
    )  # fmt: skip
    s.hook._handle({"type": "done", "id": "old", "outcome": "complete"}, backlog=True)
    s.tasks.tasks = {"0_0": _task(s.root, 0, {})}
    assert s.hook.poll() is False
    assert not s.stopped
