"""Runs one of the examples/ applications as an instance process, on topics of its own.

Params: ``example`` (module name in examples/) and ``suffix`` (appended to the example's
application id and topic names, so each test has topics of its own on a shared broker).
"""

from __future__ import annotations

import importlib

from app_params import app_settings, params

from kstreamy import App


def build_app() -> App:
    p = params()
    module = importlib.import_module(f"examples.{p['example']}")
    return module.build_app(p["suffix"], **app_settings(p), **p.get("guarantee", {}))
