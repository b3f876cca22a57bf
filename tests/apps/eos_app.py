"""Exactly-once: a count per key (stateful) and a stateless branch of even numbers."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App


def build_app() -> App:
    p = params()
    settings = {
        **app_settings(p),
        "processing_guarantee": "exactly_once",
        "commit_interval_ms": 100,
    }
    settings.update(p.get("settings", {}))
    app = App(p["app_id"], **settings)
    stream = app.stream(p["input"], key_serde="str", value_serde="json")
    stream.group_by_key().count(store="counts").to(p["counts"], value_serde="int")
    stream.filter(lambda key, value: value["n"] % 2 == 0).to(p["evens"])
    return app
