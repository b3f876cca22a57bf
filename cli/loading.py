"""Find the App a user points the CLI at (``package.module:attribute``)."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from kstreamy import App


def load_app(spec: str) -> App:
    """Import ``module:attr`` (attr defaults to ``app``) with the current directory importable."""
    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise typer.BadParameter(f"module {module_name!r} has no attribute {attr!r}") from None
    if callable(app) and not isinstance(app, App):
        app = app()  # a factory function
    if not isinstance(app, App):
        raise typer.BadParameter(f"{spec} is a {type(app).__name__}, not a kstreamy App")
    return app
