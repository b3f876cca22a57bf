"""``kstreamy`` commands about a test app, run as a real process with the app's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests_support.instances import APPS_DIR, REPO_ROOT


def app_env(bootstrap: str, app_id: str, state_dir: Path, **settings: Any) -> dict[str, str]:
    params = {"app_id": app_id, "state_dir": str(state_dir), **settings}
    return {
        **os.environ,
        "KSTREAMY_BOOTSTRAP_SERVERS": bootstrap,
        "KSTREAMY_TEST_APP": json.dumps(params),
        "PYTHONPATH": os.pathsep.join([str(APPS_DIR), str(REPO_ROOT)]),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


def kstreamy(
    env: dict[str, str], *args: str, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout; fails the test with its stderr when it did not succeed."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout
