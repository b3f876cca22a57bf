"""A stable instance id, kept in the state directory.

It names the instance's transactional producer (``<app_id>-<instance_id>``): a restarted instance
with the same state directory gets the same transactional id, so the broker fences the previous
incarnation's producer and aborts whatever transaction it left open.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

INSTANCE_ID_FILE = "instance.id"


def instance_id(app_state_dir: Path, configured: str | None = None) -> str:
    if configured:
        return configured
    path = app_state_dir / INSTANCE_ID_FILE
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    app_state_dir.mkdir(parents=True, exist_ok=True)
    new_id = uuid.uuid4().hex[:12]
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(new_id + "\n")
    os.replace(tmp, path)
    return new_id
