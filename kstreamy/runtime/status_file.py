"""A small JSON file in which a running instance tells what it owns and how far it got.

Read by ``kstreamy status`` and by operators' scripts on the same host. It is rewritten
atomically on every assignment change and commit, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "instance-status.json"


def status_path(app_state_dir: Path) -> Path:
    return app_state_dir / STATUS_FILE


def write_status(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**status, "updated_at": time.time()}, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
