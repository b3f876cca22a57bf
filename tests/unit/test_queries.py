"""Interactive query answers over real tasks and RocksDB stores (no broker, no HTTP)."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import TopicPartition

from kstreamy.partitioner import partition_for
from kstreamy.query.codec import BadKey, from_jsonable, jsonable, key_from_text, key_to_text
from kstreamy.query.endpoints import owner_of
from kstreamy.query.service import QueryService
from kstreamy.runtime.local_stores import LocalStores
from kstreamy.serde import resolve_serde
from kstreamy.state.session_store import SessionStore
from kstreamy.state.window_store import WindowStore
from tests_support.local_tasks import counting_app, task_manager

INT = resolve_serde("int")
OTHER = {
    "other": {"instance_id": "other", "url": "http://other:8080", "tasks": ["0_1", "0_3"]},
}


def _keys_on(partitions: set[int], n: int = 4) -> list[str]:
    return [
        w for w in (f"word-{i}" for i in range(200)) if partition_for(w.encode(), 4) in partitions
    ][:n]


@pytest.fixture
def setup(tmp_path):
    tasks = task_manager(counting_app(tmp_path), partitions=4, local=[0, 2])
    directory = dict(OTHER)
    service = QueryService(LocalStores(tasks), "me", lambda: directory)
    local = _keys_on({0, 2})
    for i, word in enumerate(local):
        task = tasks.tasks[f"0_{partition_for(word.encode(), 4)}"]
        task.state.stores["counts"].write_batch([(word.encode(), INT.serialize(i + 1))])
    yield tasks, service, local, directory
    tasks.close_all()


def test_a_local_key_is_read_from_the_committed_store(setup):
    tasks, service, local, _ = setup
    answer = service.get("counts", local[1], "text", "/stores/counts/keys/x")
    assert answer.status == 200
    partition = partition_for(local[1].encode(), 4)
    assert answer.body == {
        "store": "counts",
        "key": local[1],
        "value": 2,
        "task": f"0_{partition}",
        "partition": partition,
        "instance_id": "me",
    }
    # Uncommitted writes (the task's transaction buffer) are not visible.
    tasks.tasks[f"0_{partition}"].state.transaction("counts").put(local[1].encode(), b"\0" * 8)
    assert service.get("counts", local[1], "text", "/p").body["value"] == 2


def test_a_key_owned_elsewhere_is_redirected_to_its_owner(setup):
    _, service, _, directory = setup
    remote = _keys_on({1, 3}, 1)[0]
    answer = service.get("counts", remote, "text", f"/stores/counts/keys/{remote}?key_format=text")
    assert answer.status == 307
    assert answer.location == f"http://other:8080/stores/counts/keys/{remote}?key_format=text"
    assert answer.body["owner"] == {"instance_id": "other", "url": "http://other:8080"}
    directory.clear()
    answer = service.get("counts", remote, "text", "/p")
    assert (answer.status, answer.body["error"]) == (503, "not_available")


def test_missing_keys_stores_and_window_queries_on_key_value_stores(setup):
    _, service, _, _ = setup
    absent = _keys_on({0}, 10)[-1]
    assert service.get("counts", absent, "text", "/p").body["error"] == "key_not_found"
    answer = service.get("nope", "k", "text", "/p")
    assert (answer.status, answer.body["error"]) == (404, "unknown_store")
    assert "stores: counts" in answer.body["message"]
    answer = service.windows("counts", "k", "text", {}, "/p")
    assert (answer.status, answer.body["error"]) == (404, "not_a_window_store")


def test_a_restoring_or_closed_task_is_not_read(setup):
    tasks, service, local, _ = setup
    partition = partition_for(local[0].encode(), 4)
    tid = f"0_{partition}"
    tasks.paused[tid] = TopicPartition("words", partition)
    assert service.get("counts", local[0], "text", "/p").body["error"] == "restoring"
    del tasks.paused[tid]
    tasks.close(tasks.tasks[tid])
    assert service.get("counts", local[0], "text", "/p").status == 503


def test_range_reads_the_local_tasks_in_byte_order(setup):
    _, service, local, _ = setup
    answer = service.range("counts", {})
    assert answer.status == 200
    assert [i["key"] for i in answer.body["items"]] == sorted(local)
    assert answer.body["tasks"] == ["0_0", "0_2"] and answer.body["partitions"] == 4
    ordered = sorted(local)
    answer = service.range("counts", {"from": ordered[1], "to": ordered[2], "limit": "5"})
    assert [i["key"] for i in answer.body["items"]] == ordered[1:3]
    answer = service.range("counts", {"limit": "1"})
    assert len(answer.body["items"]) == 1 and answer.body["truncated"]


def test_closing_a_task_waits_for_a_read_in_progress(setup):
    tasks, _, local, _ = setup
    stores = LocalStores(tasks)
    tid = f"0_{partition_for(local[0].encode(), 4)}"
    closed = threading.Event()
    with stores.reading("counts", tid) as kv:
        closer = threading.Thread(target=lambda: (tasks.close(tasks.tasks[tid]), closed.set()))
        closer.start()
        assert not closed.wait(0.3)  # blocked on the store lock while the read runs
        assert kv.get(local[0].encode()) is not None
    closer.join(10)
    assert closed.is_set()


def test_window_and_session_stores_answer_a_keys_windows(setup):
    tasks, service, _, _ = setup
    key = _keys_on({0}, 1)[0]
    kv = tasks.tasks["0_0"].state.stores
    minutes = WindowStore(kv["per-minute"], 60_000)
    for start, count in ((0, 3), (60_000, 1), (180_000, 2)):
        minutes.put(key.encode(), start, INT.serialize(count))
    sessions = SessionStore(kv["sessions"])
    sessions.put(key.encode(), 1_000, 5_000, INT.serialize(4))
    sessions.put(key.encode(), 100_000, 100_000, INT.serialize(1))

    answer = service.windows("per-minute", key, "text", {"from": "0", "to": "60000"}, "/p")
    assert answer.status == 200
    assert answer.body["windows"] == [
        {"start": 0, "end": 60_000, "value": 3},
        {"start": 60_000, "end": 120_000, "value": 1},
    ]
    answer = service.windows("sessions", key, "text", {"from": "4000", "to": "200000"}, "/p")
    assert answer.body["windows"] == [
        {"start": 1_000, "end": 5_000, "value": 4},
        {"start": 100_000, "end": 100_000, "value": 1},
    ]
    answer = service.get("per-minute", key, "text", "/p")
    assert (answer.status, answer.body["error"]) == (400, "bad_request")
    assert "use /windows" in answer.body["message"]
    remote = _keys_on({1}, 1)[0]
    assert service.windows("per-minute", remote, "text", {}, "/p").status == 307


def test_keys_from_text_follow_the_key_serde():
    assert key_from_text("42", resolve_serde("int")) == 42
    assert key_from_text("a/b", resolve_serde("str")) == "a/b"
    assert key_from_text("raw", resolve_serde("bytes")) == b"raw"
    assert key_from_text('{"id": 1}', resolve_serde("json")) == {"id": 1}
    assert key_from_text("plain", resolve_serde("json")) == "plain"
    assert key_from_text('"123"', resolve_serde("json"), "json") == "123"
    with pytest.raises(BadKey, match="keys are integers"):
        key_from_text("x", resolve_serde("int"))
    assert key_to_text("123") == ('"123"', "json")
    assert key_to_text(b"\xff") == ("/w==", "base64")
    assert key_from_text("/w==", resolve_serde("bytes"), "base64") == b"\xff"
    assert from_jsonable(jsonable({"a": [b"\x00"]})) == {"a": [b"\x00"]}


def test_the_newest_claim_on_a_task_wins():
    records = {
        "old": {"url": "http://old", "tasks": ["0_1"], "updated_at": 1.0},
        "new": {"url": "http://new", "tasks": [], "restoring": ["0_1"], "updated_at": 2.0},
    }
    assert owner_of(records, "0_1")["url"] == "http://new"
    assert owner_of(records, "0_1", exclude="new")["url"] == "http://old"
    assert owner_of(records, "0_2") is None
