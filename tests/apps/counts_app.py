"""Count and sum per key: a stateful aggregation whose results are easy to check offline."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))
    grouped = app.stream(p["input"], key_serde="str", value_serde="json").group_by_key()
    grouped.count(store="counts").to(p["output"], value_serde="int")
    sums = grouped.aggregate(lambda: 0, lambda key, value, total: total + value["n"], store="sums")
    sums.to(p["sums_output"], value_serde="json")
    return app
