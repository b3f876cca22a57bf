import subprocess
import sys

import pytest

from kstreamy import ConfigError
from kstreamy.runtime.state_lock import StateDirLock


def test_a_second_instance_on_the_same_state_dir_is_refused(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib\n"
            "from kstreamy.runtime.state_lock import StateDirLock\n"
            f"lock = StateDirLock(pathlib.Path({str(tmp_path)!r}))\n"
            "lock.acquire()\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            ConfigError, match=rf"in use by a running instance \(pid {holder.pid}\)"
        ):
            StateDirLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its process, even on SIGKILL.
    lock = StateDirLock(tmp_path)
    lock.acquire()
    lock.release()


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(str(dead.pid))  # what a killed holder leaves behind
    lock = StateDirLock(tmp_path)
    with caplog.at_level("WARNING"):
        lock.acquire()
    assert f"lock left by pid {dead.pid}" in caplog.text
    assert str(tmp_path) in caplog.text
    lock.release()
    assert (tmp_path / ".lock").read_text() == ""  # a clean stop leaves no pid to report


def test_a_clean_stop_is_not_reported_as_a_takeover(tmp_path, caplog):
    first = StateDirLock(tmp_path)
    first.acquire()
    first.release()
    with caplog.at_level("WARNING"):
        second = StateDirLock(tmp_path)
        second.acquire()
        second.release()
    assert "taken over" not in caplog.text
