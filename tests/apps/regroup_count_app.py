"""Exactly-once count per user after a repartition: input keyed by account, regrouped by the
value's user (through ``<app_id>-by-user-repartition``), every count update written out."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App


def build_app() -> App:
    p = params()
    settings = {**app_settings(p), **p.get("guarantee", {})}
    app = App(p["app_id"], **settings)
    (
        app.stream(p["input"], key_serde="str", value_serde="json")
        .group_by(lambda key, value: value["user"], name="by-user", key_serde="str")
        .count(store="user-counts")
        .to(p["output"], value_serde="int")
    )
    return app
