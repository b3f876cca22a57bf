"""The application ``kstreamy demo`` runs: clean sensor readings and split out alerts.

Readings with no value are dropped, Celsius becomes Fahrenheit, and readings above the alert
threshold go to their own topic. Malformed records go to the dead-letter topic.
"""

from __future__ import annotations

import os
from typing import Any

from kstreamy import App

ALERT_FAHRENHEIT = 100.0


def topics(suffix: str) -> dict[str, str]:
    return {
        "readings": f"demo-readings{suffix}",
        "clean": f"demo-clean{suffix}",
        "alerts": f"demo-alerts{suffix}",
    }


def to_fahrenheit(reading: dict[str, Any]) -> dict[str, Any]:
    return {**reading, "fahrenheit": round(reading["celsius"] * 9 / 5 + 32, 2)}


def is_valid(key: str, reading: dict[str, Any]) -> bool:
    return reading.get("celsius") is not None


def is_alert(key: str, reading: dict[str, Any]) -> bool:
    return reading["fahrenheit"] > ALERT_FAHRENHEIT


def build_app() -> App:
    suffix = os.environ.get("KSTREAMY_DEMO_SUFFIX", "")
    names = topics(suffix)
    app = App(
        f"kstreamy-demo{suffix}",
        on_deserialization_error="dead_letter",
        commit_interval_ms=1000,
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
    )
    branches = (
        app.stream(names["readings"], key_serde="str", value_serde="json")
        .filter(is_valid)
        .map_values(to_fahrenheit)
        .split()
        .branch(is_alert, name="alert")
        .default_branch(name="normal")
    )
    branches["alert"].to(names["alerts"])
    branches["normal"].to(names["clean"])
    return app
