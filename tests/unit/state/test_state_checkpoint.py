"""Checkpoint files: round trip, atomic replacement and refusal of damaged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kstreamy.state import CheckpointCorruptedError, CheckpointFile


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    checkpoint = CheckpointFile(tmp_path / "0_1" / ".checkpoint")
    assert not checkpoint.exists()
    assert checkpoint.read() == {}


def test_round_trip_creates_parent(tmp_path: Path) -> None:
    checkpoint = CheckpointFile(tmp_path / "app" / "0_1" / ".checkpoint")
    offsets = {"app-counts-changelog": 42, "app-totals-changelog": 0}
    checkpoint.write(offsets)
    assert checkpoint.exists()
    assert checkpoint.read() == offsets


def test_file_format_is_versioned_json(tmp_path: Path) -> None:
    path = tmp_path / ".checkpoint"
    CheckpointFile(path).write({"b": 2, "a": 1})
    assert json.loads(path.read_text()) == {"version": 1, "offsets": {"a": 1, "b": 2}}


def test_overwrite_leaves_no_temp_file(tmp_path: Path) -> None:
    checkpoint = CheckpointFile(tmp_path / ".checkpoint")
    checkpoint.write({"t": 1})
    checkpoint.write({"t": 7, "u": 3})
    assert checkpoint.read() == {"t": 7, "u": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".checkpoint"]


def test_empty_offsets_round_trip(tmp_path: Path) -> None:
    checkpoint = CheckpointFile(tmp_path / ".checkpoint")
    checkpoint.write({})
    assert checkpoint.exists()
    assert checkpoint.read() == {}


def test_crash_before_rename_keeps_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = CheckpointFile(tmp_path / ".checkpoint")
    checkpoint.write({"t": 1})

    def crash(src: object, dst: object) -> None:
        raise OSError("power loss")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power loss"):
        checkpoint.write({"t": 2})
    monkeypatch.undo()
    assert checkpoint.read() == {"t": 1}


def test_write_fsyncs_file_and_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to name file descriptors")
    monkeypatch.setattr(os, "fsync", recording_fsync)
    CheckpointFile(tmp_path / ".checkpoint").write({"t": 1})
    assert synced == [str(tmp_path / ".checkpoint.tmp"), str(tmp_path)]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2]",
        b'{"offsets": {"t": 1}}',
        b'{"version": 99, "offsets": {"t": 1}}',
        b'{"version": 1}',
        b'{"version": 1, "offsets": [1]}',
        b'{"version": 1, "offsets": {"t": -1}}',
        b'{"version": 1, "offsets": {"t": "12"}}',
        b'{"version": 1, "offsets": {"t": 1.5}}',
        b'{"version": 1, "offsets": {"t": true}}',
        b'{"version": 1, "offsets": {"t": 1',
    ],
)
def test_damaged_file_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / ".checkpoint"
    path.write_bytes(content)
    with pytest.raises(CheckpointCorruptedError) as info:
        CheckpointFile(path).read()
    assert info.value.path == path


@pytest.mark.parametrize(
    "offsets",
    [{"t": -1}, {"t": True}, {"t": 1.0}, {"t": "3"}, {3: 1}],
)
def test_write_rejects_bad_offsets(tmp_path: Path, offsets: dict) -> None:
    checkpoint = CheckpointFile(tmp_path / ".checkpoint")
    with pytest.raises(ValueError):
        checkpoint.write(offsets)
    assert not checkpoint.exists()


def test_delete(tmp_path: Path) -> None:
    checkpoint = CheckpointFile(tmp_path / ".checkpoint")
    checkpoint.delete()
    checkpoint.write({"t": 5})
    checkpoint.delete()
    assert not checkpoint.exists()
    assert checkpoint.read() == {}


def test_metadata_round_trips_next_to_the_offsets(tmp_path):
    checkpoint = CheckpointFile(tmp_path / ".checkpoint")
    checkpoint.write({"app-s-changelog": 7}, {"generation": "g1", "watermarks": {"in": 5}})
    assert checkpoint.read() == {"app-s-changelog": 7}
    assert checkpoint.read_all() == (
        {"app-s-changelog": 7},
        {"generation": "g1", "watermarks": {"in": 5}},
    )


def test_files_without_metadata_still_read(tmp_path):
    path = tmp_path / ".checkpoint"
    path.write_text('{"version": 1, "offsets": {"t": 3}}')
    assert CheckpointFile(path).read_all() == ({"t": 3}, {})


def test_metadata_that_is_not_an_object_is_corruption(tmp_path):
    path = tmp_path / ".checkpoint"
    path.write_text('{"version": 1, "offsets": {}, "metadata": [1]}')
    with pytest.raises(CheckpointCorruptedError, match="metadata"):
        CheckpointFile(path).read_all()
