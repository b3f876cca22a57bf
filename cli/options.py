"""Options shared by the ``kstreamy`` commands, and how they fail.

Settings given on the command line reach the App through
:meth:`kstreamy.config.AppConfig.with_overrides`, so they are parsed and validated exactly like
settings given in code, and override both the code and ``KSTREAMY_*`` environment variables.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperArgument, TyperCommand

from kstreamy.config_sources import parse_assignments

_BRACED = re.compile(r"^\{(.*)\}((?:\.\.\.)?)$")
CONTEXT = {"help_option_names": ["-h", "--help"]}


class Command(TyperCommand):
    """Help as people write it (``kstreamy run [OPTIONS] MODULE:APP``): without the braces and
    ``<str>`` type labels some typer versions add to arguments whose metavar says it all."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [_BRACED.sub(r"\1\2", piece) for piece in pieces]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            if isinstance(param, TyperArgument) and param.metavar:
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        super().format_help(ctx, formatter)


AppSpec = Annotated[
    str,
    typer.Argument(
        metavar="MODULE:APP",
        help="The application: module:attribute holding an App (module alone means "
        "module:app), or module:factory, a function that returns one",
        show_default=False,
    ),
]
Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        "-b",
        metavar="HOST:PORT",
        help="Kafka brokers (same as --set bootstrap_servers=...; env KSTREAMY_BOOTSTRAP_SERVERS)",
        show_default=False,
    ),
]
StateDir = Annotated[
    str | None,
    typer.Option(
        metavar="DIR",
        help="State directory, one per instance on a machine (same as --set state_dir=...; "
        "env KSTREAMY_STATE_DIR)",
        show_default=False,
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Any App setting or librdkafka property, e.g. --set on_deserialization_error=skip "
        "or --set security_protocol=SASL_SSL; repeatable. Overrides KSTREAMY_<SETTING> "
        "environment variables, which override the code (give secrets such as "
        "KSTREAMY_SASL_PASSWORD in the environment: a command line is visible to others)",
        show_default=False,
    ),
]


def overrides(
    sets: list[str] | None, state_dir: str | None = None, bootstrap: str | None = None
) -> dict[str, str]:
    """``--set`` items plus the shorthand flags (which win over a ``--set`` of the same key)."""
    try:
        values = parse_assignments(sets or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from None
    if state_dir:
        values["state_dir"] = state_dir
    if bootstrap:
        values["bootstrap_servers"] = bootstrap
    return values


def fail(exc: BaseException, code: int = 1) -> NoReturn:
    """One red line on stderr and a non-zero exit: no traceback for errors kstreamy explains."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code) from exc
