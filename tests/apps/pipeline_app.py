"""A stateless pipeline: drop ids divisible by 7, add a doubled value; bad input by policy."""

from __future__ import annotations

from typing import Any

from app_params import app_settings, params

from kstreamy import App


def transform(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("explode"):
        raise ValueError(f"cannot transform record {value['id']}")
    return {"id": value["id"], "double": value["n"] * 2}


def keep(key: str, value: dict[str, Any]) -> bool:
    return value["id"] % 7 != 0


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))
    (
        app.stream(p["input"], key_serde="str", value_serde="json")
        .filter(keep)
        .map_values(transform)
        .to(p["output"])
    )
    return app
