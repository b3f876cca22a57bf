import errno

import pytest

from kstreamy.state.disk import check_writable, disk_error, disk_problem
from kstreamy.state.errors import StateDiskError


@pytest.mark.parametrize(
    ("exc", "problem"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "full"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only"),
        (OSError(errno.EACCES, "Permission denied"), "read-only"),
        (
            Exception("IO error: No space left on device: While appending to file: x/000009.sst"),
            "full",
        ),
        (
            Exception("IO error: While open a file for appending: x/LOG: Read-only file system"),
            "read-only",
        ),
        (Exception("Corruption: block checksum mismatch"), None),
        (OSError(errno.ENOENT, "No such file or directory"), None),
    ],
)
def test_disk_problems_are_told_apart_from_damage(exc, problem):
    assert disk_problem(exc) == problem


def test_the_error_names_the_directory_and_what_to_do(tmp_path):
    full = disk_error(tmp_path, OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(full, StateDiskError)
    assert f"state directory {tmp_path} is full (No space left on device)" in str(full)
    assert "free space" in str(full)
    read_only = disk_error(tmp_path, OSError(errno.EROFS, "Read-only file system"))
    assert "is read-only" in str(read_only) and "--state-dir DIR" in str(read_only)


def test_a_writable_directory_passes_and_keeps_no_probe(tmp_path):
    check_writable(tmp_path / "app")
    assert list((tmp_path / "app").iterdir()) == []


def test_a_directory_that_cannot_be_written_is_a_disk_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(StateDiskError, match="is read-only"):
        check_writable(tmp_path)
