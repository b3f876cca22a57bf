"""Counts and sums per key, and counts per key and minute (event time from the value): stores
of both kinds, for interactive queries, metrics and status tests."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App
from kstreamy.windows import Tumbling


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))
    grouped = app.stream(
        p["input"],
        key_serde="str",
        value_serde="json",
        timestamp=lambda key, value, record_ts: value["ts"],
    ).group_by_key()
    grouped.count(store="counts").to(p["output"], value_serde="int")
    sums = grouped.aggregate(lambda: 0, lambda key, value, total: total + value["n"], store="sums")
    sums.to(p["sums_output"], value_serde="json")
    # Grace keeps both minutes of the test data open (closed windows leave the store).
    grouped.window(Tumbling(60.0, grace=300.0)).count(store="per-minute")
    return app
