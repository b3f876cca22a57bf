"""Find the App a user points the CLI at (``module:attribute`` or ``module:factory``)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping

import typer

from kstreamy import App
from kstreamy.errors import KStreamyError
from kstreamy_cli.options import fail


def load_app(spec: str, overrides: Mapping[str, str] | None = None) -> App:
    """Import ``module:attr`` (attr defaults to ``app``) with the current directory importable.

    ``attr`` may be an App or a function returning one (a factory: the App is built only when
    a command needs it, so importing the module has no side effects). ``overrides`` are
    settings given as text on the command line; they win over the code and the environment.
    """
    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    # ValueError: an empty name (":app"); TypeError: a relative one (".app"), which
    # import_module takes only with a package to resolve it against
    except (ImportError, ValueError, TypeError) as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    except KStreamyError as exc:  # e.g. a ConfigError from KSTREAMY_* variables
        fail(exc)
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise typer.BadParameter(f"module {module_name!r} has no attribute {attr!r}") from None
    if callable(app) and not isinstance(app, App):
        try:
            app = app()  # a factory function
        except KStreamyError as exc:
            fail(exc)
    if not isinstance(app, App):
        raise typer.BadParameter(f"{spec} is a {type(app).__name__}, not a kstreamy App")
    if overrides:
        try:
            app.config = app.config.with_overrides(overrides)
        except KStreamyError as exc:
            fail(exc)
    return app
