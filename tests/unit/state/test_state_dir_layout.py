import logging

import pytest

from kstreamy.errors import ConfigError
from kstreamy.state.state_dir_layout import OWNER_FILE, claim, remove_stale


def test_a_directory_is_claimed_once_and_then_recognised(tmp_path):
    claim(tmp_path / "app", "orders")
    assert (tmp_path / "app" / OWNER_FILE).read_text().strip() == "orders"
    claim(tmp_path / "app", "orders")


def test_another_applications_directory_is_refused_with_the_fix(tmp_path):
    claim(tmp_path, "payments")
    with pytest.raises(ConfigError) as raised:
        claim(tmp_path, "orders")
    message = str(raised.value)
    assert "holds the state of application 'payments'" in message
    assert f"rm -rf {tmp_path}" in message


def _make(path):
    path.mkdir(parents=True)
    (path / "CURRENT").write_text("MANIFEST-000001\n")


def test_tasks_and_stores_of_another_topology_version_are_deleted(tmp_path, caplog):
    _make(tmp_path / "0_0" / "counts")
    _make(tmp_path / "0_0" / "old-store")
    (tmp_path / "0_0" / ".checkpoint").write_text("{}")
    _make(tmp_path / "3_1" / "counts")
    _make(tmp_path / "1_0" / "mem-only-task-keeps-its-dir")
    (tmp_path / "1_0" / ".checkpoint").write_text("{}")
    (tmp_path / "savepoints").mkdir()
    (tmp_path / ".lock").write_text("")
    with caplog.at_level(logging.WARNING):
        removed = remove_stale(tmp_path, {0: {"counts"}, 1: set()})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in removed) == [
        "0_0/old-store",
        "1_0/mem-only-task-keeps-its-dir",
        "3_1",
    ]
    assert (tmp_path / "0_0" / "counts" / "CURRENT").exists()
    assert (tmp_path / "0_0" / ".checkpoint").exists()
    assert (tmp_path / "1_0" / ".checkpoint").exists()
    assert (tmp_path / "savepoints").exists() and (tmp_path / ".lock").exists()
    assert "task 3_1 is not part of this topology" in caplog.text
    assert "has no store 'old-store'" in caplog.text
