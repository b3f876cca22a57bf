"""A stream-table join: clicks enriched with the user's country."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))
    users = app.table(p["users"], name="users", key_serde="str", value_serde="json")
    (
        app.stream(p["clicks"], key_serde="str", value_serde="json")
        .left_join(users, lambda click, user: {**click, "country": user and user["country"]})
        .to(p["output"])
    )
    return app
