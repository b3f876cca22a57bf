"""A failed commit step whose cause is a full or read-only disk stops the instance with that
cause; it is never taken for state to rebuild (a rebuild needs the same disk)."""

import errno

from kstreamy.runtime.commit_sequence import StateApplyError
from kstreamy.runtime.state_failures import disk_error_behind
from kstreamy.state.errors import StateDiskError, StoreCorruptedError


def test_a_checkpoint_write_on_a_full_disk_is_adisk_error_behind(tmp_path):
    error = disk_error_behind(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert isinstance(error, StateDiskError) and error.problem == "full"


def test_a_disk_error_of_one_task_among_failures_is_found(tmp_path):
    disk = StateDiskError(tmp_path, "read-only", OSError(errno.EROFS, "Read-only file system"))
    failures = {"0_0": StoreCorruptedError(tmp_path, Exception("Corruption: x")), "0_1": disk}
    assert disk_error_behind(StateApplyError(failures), tmp_path) is disk


def test_other_failures_are_left_to_their_own_remedy(tmp_path):
    corrupt = StoreCorruptedError(tmp_path, Exception("Corruption: x"))
    assert disk_error_behind(StateApplyError({"0_0": corrupt}), tmp_path) is None
    assert disk_error_behind(RuntimeError("broker gone"), tmp_path) is None
    assert disk_error_behind(None, tmp_path) is None
