"""Arguments, options and helpers shared by the savepoint and reset commands (which print
with rich, so their errors do too)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from kstreamy import App
from kstreamy_cli.loading import load_app
from kstreamy_cli.options import overrides
from kstreamy_cli.progress import console

AppSpec = Annotated[str, typer.Argument(help="The application, as package.module:attribute")]
SavepointPath = Annotated[str, typer.Argument(help="A savepoint directory")]
Bootstrap = Annotated[
    str | None, typer.Option("--bootstrap-servers", "-b", help="Override the Kafka brokers")
]


def fail(exc: Exception) -> typer.Exit:
    console.print("[red]error:[/red]", escape(str(exc)), highlight=False)
    return typer.Exit(1)


def load(app_spec: str, bootstrap_servers: str | None = None, sets: list[str] | None = None) -> App:
    """The application, with ``--set`` and ``--bootstrap-servers`` over its code and the
    environment (validated like code; the security settings reach every client)."""
    return load_app(app_spec, overrides(sets, None, bootstrap_servers))
