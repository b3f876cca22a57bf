"""The application ``kstreamy demo`` runs: per-sensor statistics over one-minute windows.

Readings (``{"sensor", "ts", "celsius"}``) arrive late and out of order; the application windows
them by the time they were measured (``ts``), holds each window open until the watermark passes
it, and writes one final result per sensor and minute, exactly once.

The demo starts it as plain ``kstreamy run kstreamy_cli.demo.app:build_app`` processes and picks
the variant through environment variables, as a deployment would pick a release:

- ``KSTREAMY_DEMO_NAMESPACE``: appended to the application id and topic names, so every scenario
  runs on topics of its own;
- ``KSTREAMY_DEMO_VERSION``: the release (see ``VERSIONS``). Every release keeps the store name
  ``sensor-minutes``, so each can continue from the state of the one before;
- ``KSTREAMY_DEMO_CLOCK``: ``event`` (the measurement time) or ``arrival`` (the Kafka record
  timestamp, set when the reading reached Kafka), to show what windows on arrival time get wrong.
"""

from __future__ import annotations

import os
from typing import Any

from kstreamy import App
from kstreamy.windows import Tumbling

WINDOW_SECONDS = 60.0
MAX_DELAY_SECONDS = 15.0  # how late a reading may reach Kafka; the watermark waits this long

#: release -> what it adds to each window's result
VERSIONS = {
    "v1": "readings and max_c",
    "v2": "v1 plus mean_c (a new output field)",
    "v3-bug": "v2 plus max_f, with a bug: Celsius to Fahrenheit forgets the + 32",
    "v3": "v2 plus max_f, fixed",
}


def topics(namespace: str, clock: str = "event") -> dict[str, str]:
    minutes = "demo-minutes-arrival" if clock == "arrival" else "demo-minutes"
    return {"readings": f"demo-readings{namespace}", "minutes": f"{minutes}{namespace}"}


def application_id(namespace: str, clock: str = "event") -> str:
    return f"kstreamy-demo{'-arrival' if clock == 'arrival' else ''}{namespace}"


def new_window() -> dict[str, int]:
    return {"n": 0, "sum_dc": 0, "max_dc": -(10**9)}


def add_reading(sensor: str, reading: dict[str, Any], acc: dict[str, int]) -> dict[str, int]:
    """Tenths of a degree as integers: the sum does not depend on the order readings came in."""
    tenths = round(reading["celsius"] * 10)
    return {
        "n": acc["n"] + 1,
        "sum_dc": acc["sum_dc"] + tenths,
        "max_dc": max(acc["max_dc"], tenths),
    }


def result(version: str, acc: dict[str, int]) -> dict[str, Any]:
    """The output record of a closed window, as each release writes it."""
    out: dict[str, Any] = {"readings": acc["n"], "max_c": acc["max_dc"] / 10}
    if version != "v1":
        out["mean_c"] = round(acc["sum_dc"] / acc["n"] / 10, 2)
    if version == "v3-bug":
        out["max_f"] = round(acc["max_dc"] / 10 * 9 / 5, 1)
    elif version == "v3":
        out["max_f"] = round(acc["max_dc"] / 10 * 9 / 5 + 32, 1)
    return out


def build_app() -> App:
    namespace = os.environ.get("KSTREAMY_DEMO_NAMESPACE", "")
    version = os.environ.get("KSTREAMY_DEMO_VERSION", "v1")
    clock = os.environ.get("KSTREAMY_DEMO_CLOCK", "event")
    if version not in VERSIONS:
        raise ValueError(f"KSTREAMY_DEMO_VERSION={version!r}: expected one of {sorted(VERSIONS)}")
    names = topics(namespace, clock)
    app = App(
        application_id(namespace, clock),
        processing_guarantee="exactly_once",
        commit_interval_ms=100,
    )
    by_event_time = {
        "timestamp": lambda sensor, reading, record_ts: reading["ts"],
        "max_out_of_orderness": MAX_DELAY_SECONDS,
    }
    readings = app.stream(
        names["readings"],
        key_serde="str",
        value_serde="json",
        **(by_event_time if clock == "event" else {}),
    )
    (
        readings.group_by_key()
        .window(Tumbling(WINDOW_SECONDS))
        .aggregate(new_window, add_reading, store="sensor-minutes")
        .emit_final()
        .to_stream()
        .map_values(lambda acc: result(version, acc))
        .to(names["minutes"], key_serde="windowed-json", value_serde="json")
    )
    return app
