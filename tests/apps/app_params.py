"""Settings handed to a test app by the instance factory (JSON in KSTREAMY_TEST_APP)."""

from __future__ import annotations

import json
import os
from typing import Any


def params() -> dict[str, Any]:
    return json.loads(os.environ["KSTREAMY_TEST_APP"])


def app_settings(p: dict[str, Any]) -> dict[str, Any]:
    """App settings for fast tests: short group timeouts and commit interval."""
    return {
        "state_dir": p["state_dir"],
        "commit_interval_ms": 200,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 500,
        "max_poll_interval_ms": 10000,
        **p.get("settings", {}),
    }
