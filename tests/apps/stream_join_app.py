"""A stream-stream outer join: left and right records of one key within a join window."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App
from kstreamy.windows import JoinWindows


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))

    def event_time(key, value, record_ts):
        return value["ts"]

    left = app.stream(p["left"], key_serde="str", value_serde="json", timestamp=event_time)
    right = app.stream(p["right"], key_serde="str", value_serde="json", timestamp=event_time)
    left.outer_join(
        right,
        lambda mine, theirs: {"left": mine and mine["id"], "right": theirs and theirs["id"]},
        name="pairs",
        window=JoinWindows(before=p["before"], after=p["after"], grace=p["grace"]),
    ).to(p["output"])
    return app
