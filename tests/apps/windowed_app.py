"""Event-time windows: count and sum per 10 s tumbling window, emitted once when final.

``by`` = "sensor" windows the input key directly; "region" first regroups by the value's region,
so the windows run downstream of a repartition topic fed by every input task.

``ks_output`` also writes the 10 s windows in Kafka Streams' key layout, and ``session_output``
counts per session (7 s gap, every update) in Kafka Streams' session key layout.
"""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App
from kstreamy.windows import Session, Tumbling


def build_app() -> App:
    p = params()
    settings = {**app_settings(p), **p.get("guarantee", {})}
    app = App(p["app_id"], **settings)
    readings = app.stream(
        p["input"],
        key_serde="str",
        value_serde="json",
        timestamp=lambda key, value, record_ts: value["ts"],
        max_out_of_orderness=p.get("ooo", 4.0),
    )
    if p.get("by") == "region":
        grouped = readings.group_by(
            lambda key, value: value["region"], name="by-region", key_serde="str"
        )
    else:
        grouped = readings.group_by_key()
    windows = (
        grouped.window(Tumbling(10.0))
        .aggregate(
            lambda: {"n": 0, "sum": 0},
            lambda key, value, acc: {"n": acc["n"] + 1, "sum": acc["sum"] + value["v"]},
            store="per-10s",
        )
        .emit_final()
    )
    windows.to(p["output"], key_serde="windowed-json", value_serde="json")
    if p.get("ks_output"):
        windows.to(p["ks_output"], value_serde="json")
    if p.get("session_output"):
        sessions = grouped.window(Session(7.0)).count(store="sessions")
        sessions.to(p["session_output"], value_serde="int")
    return app
