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
