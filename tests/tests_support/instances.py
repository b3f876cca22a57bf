"""Application instances as real OS processes (``python -m kstreamy_cli run ...``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from kstreamy.runtime.status_file import read_status, status_path
from tests_support.waiting import wait_until

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"
REPO_ROOT = APPS_DIR.parent.parent


class InstanceProcess:
    def __init__(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        log_path: Path,
        state_dir: Path,
        app_id: str,
        module: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.env = env or {}
        self.name = name
        self.process = process
        self.log_path = log_path
        self.state_dir = state_dir
        self.app_id = app_id

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self) -> dict[str, Any]:
        return read_status(status_path(self.state_dir / self.app_id)) or {}

    def partitions(self) -> set[str]:
        status = self.status()
        if status.get("pid") != self.pid or status.get("state") != "running":
            return set()
        return set(status.get("partitions", []))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.process.send_signal(signum)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout)

    def cli(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a ``kstreamy`` command about this instance's app, with the instance's settings."""
        return subprocess.run(
            [sys.executable, "-m", "kstreamy_cli", command, f"{self.module}:build_app", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def wait_running(self, timeout: float = 60.0) -> None:
        wait_until(
            lambda: self.status().get("pid") == self.pid or not self.alive(),
            timeout,
            what=f"instance {self.name} to start",
        )
        if not self.alive():
            raise AssertionError(f"instance {self.name} exited:\n{self.log()[-3000:]}")


class InstanceFactory:
    """Starts instances of a test app module from tests/apps with settings passed as JSON."""

    def __init__(self, bootstrap: str, tmp_path: Path) -> None:
        self.bootstrap = bootstrap
        self.tmp_path = tmp_path
        self.started: list[InstanceProcess] = []

    def start(
        self,
        app_module: str,
        app_id: str,
        *,
        state_dir: Path | None = None,
        name: str | None = None,
        cli_args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
        **settings: Any,
    ) -> InstanceProcess:
        """Start ``kstreamy run app_module:build_app``; ``settings`` go to the app's code,
        ``cli_args`` (e.g. ``("--set", "k=v")``) and ``extra_env`` to the command."""
        name = name or f"i{len(self.started)}"
        state_dir = state_dir or (self.tmp_path / f"state-{name}")
        log_path = self.tmp_path / f"{name}.log"
        params = {"app_id": app_id, "state_dir": str(state_dir), **settings}
        env = {
            **os.environ,
            "KSTREAMY_BOOTSTRAP_SERVERS": self.bootstrap,
            "KSTREAMY_TEST_APP": json.dumps(params),
            "PYTHONPATH": os.pathsep.join([str(APPS_DIR), str(REPO_ROOT)]),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        if "--state-dir" in cli_args:  # the instance's status is where the flag puts it
            state_dir = Path(cli_args[cli_args.index("--state-dir") + 1])
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kstreamy_cli", "run", f"{app_module}:build_app", *cli_args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp_path,
            )
        instance = InstanceProcess(name, process, log_path, state_dir, app_id, app_module, env)
        self.started.append(instance)
        return instance

    def kill_all(self) -> None:
        for instance in self.started:
            if instance.alive():
                instance.signal(signal.SIGCONT)
                instance.kill()
                instance.wait_exit(10)
