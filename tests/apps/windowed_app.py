"""Event-time windows: count and sum per 10 s tumbling window, emitted once when final.

``by`` = "sensor" windows the input key directly; "region" first regroups by the value's region,
so the windows run downstream of a repartition topic fed by every input task.
"""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App
from kstreamy.windows import Tumbling


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
    (
        grouped.window(Tumbling(10.0))
        .aggregate(
            lambda: {"n": 0, "sum": 0},
            lambda key, value, acc: {"n": acc["n"] + 1, "sum": acc["sum"] + value["v"]},
            store="per-10s",
        )
        .emit_final()
        .to(p["output"], key_serde="windowed-json", value_serde="json")
    )
    return app
