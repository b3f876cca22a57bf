"""Which stores a task trusts, and from where it restores them."""

import logging

from kstreamy.serde import resolve_serde
from kstreamy.state.checkpoint import CheckpointFile
from kstreamy.state.resources import StoreResources
from kstreamy.state.state_manager import CHECKPOINT_FILE, StateManager
from kstreamy.state.task_state import FLUSH_EVERY_RECORDS
from kstreamy.topology import StoreSpec

JSON = resolve_serde("json")
SPECS = {
    "counts": StoreSpec("counts", JSON, JSON),
    "cache": StoreSpec("cache", JSON, JSON, backend="memory"),
    "local": StoreSpec("local", JSON, JSON, changelog=False),
}


def _manager(tmp_path):
    return StateManager(tmp_path / "app", "app", StoreResources(8 << 20, 8 << 20))


def _commit_one_write(manager, offset: int):
    state, plan = manager.open("0_3", 3, SPECS)
    state.transaction("counts").put(b"k", b"1")
    state.transaction("local").put(b"k", b"2")
    state.record_changelog_offset("app-counts-changelog", offset)  # delivery report
    state.apply()
    state.write_checkpoint(force=True)  # as a clean close does
    state.close()
    return plan


def test_a_new_task_restores_changelogged_stores_from_the_start(tmp_path):
    plan = _commit_one_write(_manager(tmp_path), 42)
    assert sorted((p.store, p.topic, p.partition, p.start_offset) for p in plan) == [
        ("cache", "app-cache-changelog", 3, None),
        ("counts", "app-counts-changelog", 3, None),
    ]


def test_a_checkpointed_store_restores_only_the_tail(tmp_path):
    manager = _manager(tmp_path)
    _commit_one_write(manager, 42)
    state, plan = manager.open("0_3", 3, SPECS)
    starts = {p.store: p.start_offset for p in plan}
    assert starts == {"counts": 42, "cache": None}  # memory stores always restore in full
    assert state.stores["counts"].get(b"k") == b"1"
    assert state.stores["local"].get(b"k") == b"2"  # no changelog: local data is kept
    state.close()


def test_a_store_without_checkpoint_is_wiped(tmp_path, caplog):
    manager = _manager(tmp_path)
    _commit_one_write(manager, 42)
    (tmp_path / "app" / "0_3" / CHECKPOINT_FILE).unlink()
    with caplog.at_level(logging.WARNING):
        state, plan = manager.open("0_3", 3, SPECS)
    assert "store counts has no checkpoint; wiping it" in caplog.text
    assert {p.store: p.start_offset for p in plan}["counts"] is None
    assert state.stores["counts"].get(b"k") is None
    state.close()


def test_a_corrupt_checkpoint_wipes_the_task_stores(tmp_path, caplog):
    manager = _manager(tmp_path)
    _commit_one_write(manager, 42)
    (tmp_path / "app" / "0_3" / CHECKPOINT_FILE).write_text("{garbage")
    with caplog.at_level(logging.WARNING):
        state, plan = manager.open("0_3", 3, SPECS)
    assert "rebuilding its stores from the changelogs" in caplog.text
    assert state.stores["counts"].get(b"k") is None
    assert {p.store: p.start_offset for p in plan}["counts"] is None
    state.close()


def test_a_checkpoint_never_claims_writes_that_were_discarded(tmp_path):
    manager = _manager(tmp_path)
    _commit_one_write(manager, 42)
    state, _ = manager.open("0_3", 3, SPECS)
    state.transaction("counts").put(b"k", b"changed")
    state.record_changelog_offset("app-counts-changelog", 50)  # delivered, then aborted
    state.discard()
    state.write_checkpoint(force=True)
    state.close()
    state, plan = manager.open("0_3", 3, SPECS)
    assert state.stores["counts"].get(b"k") == b"1"
    assert {p.store: p.start_offset for p in plan}["counts"] == 42
    state.close()


def test_commits_checkpoint_the_offsets_of_the_last_flush_and_flush_every_so_many_writes(
    tmp_path,
):
    """A commit's checkpoint never claims offsets beyond what a flush made durable; the
    stores are flushed only every FLUSH_EVERY_RECORDS writes (and on a clean close)."""
    manager = _manager(tmp_path)
    _commit_one_write(manager, 42)
    checkpoint = CheckpointFile(tmp_path / "app" / "0_3" / CHECKPOINT_FILE)
    state, _ = manager.open("0_3", 3, SPECS)
    state.transaction("counts").put(b"k", b"2")
    state.record_changelog_offset("app-counts-changelog", 43)
    state.apply()
    state.metadata["clock"] = {"now": 1}
    state.metadata_changed()
    state.write_checkpoint()
    offsets, metadata = checkpoint.read_all()
    assert offsets["app-counts-changelog"] == 42  # the write to 43 is not flushed yet
    assert metadata == {"clock": {"now": 1}}  # metadata is current at every commit
    for n in range(FLUSH_EVERY_RECORDS):
        state.transaction("counts").put(f"k{n}".encode(), b"1")
    state.record_changelog_offset("app-counts-changelog", 43 + FLUSH_EVERY_RECORDS)
    state.apply()
    state.write_checkpoint()
    assert checkpoint.read()["app-counts-changelog"] == 43 + FLUSH_EVERY_RECORDS
    state.close()
