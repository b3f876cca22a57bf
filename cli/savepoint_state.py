"""``kstreamy savepoint query`` and ``export``: a savepoint's state, with no broker and no
running application."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kstreamy.errors import KStreamyError
from kstreamy.savepoint.state_view import StateView
from kstreamy_cli.loading import load_app
from kstreamy_cli.progress import RichProgress
from kstreamy_cli.savepoint_options import SavepointPath, fail

StoreOption = Annotated[str, typer.Option("--store", help="The store's name")]
AppOption = Annotated[
    str | None,
    typer.Option("--app", help="Decode with this application's serdes (module:app)"),
]


def _view(path: str, store: str, app_spec: str | None) -> StateView:
    from kstreamy.savepoint import Savepoint

    app = load_app(app_spec) if app_spec else None
    savepoint = Savepoint.open(path, app.application_id if app else None)
    savepoint.verify()
    return StateView(savepoint, store, app.topology if app else None)


def query(
    path: SavepointPath,
    store: StoreOption,
    key: Annotated[str, typer.Option("--key", help="The key (text; a number for int keys)")],
    app_spec: AppOption = None,
) -> None:
    """Print the value of one key of a store in a savepoint (every window, for window stores)."""
    try:
        view = _view(path, store, app_spec)
        found = view.lookup(view.parse_key(key))
    except (KStreamyError, ValueError) as exc:
        raise fail(exc) from exc
    if not found:
        typer.echo(f"no entry for key {key!r} in store {store}", err=True)
        raise typer.Exit(1)
    for entry in found:
        typer.echo(json.dumps(entry, sort_keys=True))


def export(
    path: SavepointPath,
    store: StoreOption,
    format: Annotated[str, typer.Option("--format", help="Output format (jsonl)")] = "jsonl",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    app_spec: AppOption = None,
) -> None:
    """Write every entry of a store as JSON lines: task, key, value (and window, timestamp)."""
    if format != "jsonl":
        raise fail(KStreamyError(f"unknown format {format!r}; known: jsonl"))
    try:
        view = _view(path, store, app_spec)
        total = sum(
            view.savepoint.manifest.tasks[t].stores[store].entries
            for t in view.savepoint.tasks_with_store(store)
        )
        sink = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            with RichProgress() as progress:
                progress.begin(f"exporting {store}", total)
                for entry in view.entries():
                    sink.write(json.dumps(entry, sort_keys=True) + "\n")
                    progress.advance()
        finally:
            if output:
                sink.close()
    except KStreamyError as exc:
        raise fail(exc) from exc
