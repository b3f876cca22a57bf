"""``kstreamy``: run, describe and operate kstreamy applications."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

import kstreamy
from kstreamy.errors import KStreamyError
from kstreamy_cli.loading import load_app
from kstreamy_cli.options import (
    CONTEXT,
    AppSpec,
    Bootstrap,
    Command,
    Sets,
    StateDir,
    fail,
    overrides,
)
from kstreamy_cli.reset import reset
from kstreamy_cli.savepoint import savepoint_cli
from kstreamy_cli.topics import topics_cli

cli = typer.Typer(
    help="Run and operate kstreamy stream-processing applications.",
    epilog="Logging: KSTREAMY_LOG_LEVEL=DEBUG|INFO|WARNING|ERROR (default INFO). "
    "Settings: every App setting can be given as KSTREAMY_<SETTING> (e.g. "
    "KSTREAMY_STATE_DIR=/tmp/wc-2) or `kstreamy run --set key=value`.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
cli.add_typer(topics_cli, name="topics")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kstreamy {kstreamy.__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """Run and operate kstreamy stream-processing applications."""


@cli.command(cls=Command)
def run(
    app_spec: AppSpec,
    bootstrap_servers: Bootstrap = None,
    state_dir: StateDir = None,
    sets: Sets = None,
) -> None:
    """Start ONE instance of the application in this process.

    Start the same command again, on another machine or here with its own --state-dir, to scale
    out: instances with the same application id share the input partitions. SIGTERM or Ctrl-C
    stops gracefully.

    Settings come from the code, then KSTREAMY_<SETTING> environment variables, then --set (the
    last one wins). Log level: KSTREAMY_LOG_LEVEL (default INFO).
    """
    app = load_app(app_spec, overrides(sets, state_dir, bootstrap_servers))
    try:
        app.run()
    except KStreamyError as exc:
        fail(exc)
    except KeyboardInterrupt:
        typer.secho(
            "stopped at once (second signal): nothing committed since the last commit", err=True
        )
        raise typer.Exit(130) from None


@cli.command(cls=Command)
def describe(
    app_spec: AppSpec,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="text|mermaid",
            help="text, or a Mermaid flowchart (paste into Markdown or mermaid.live)",
        ),
    ] = "text",
) -> None:
    """Print the application's topology: sub-topologies, processors, stores and topics.

    Example: kstreamy describe examples.word_count:app --format mermaid
    """
    if format not in ("text", "mermaid"):
        raise typer.BadParameter("choose text or mermaid", param_hint="--format")
    app = load_app(app_spec)
    try:
        typer.echo(app.describe(format=format))
    except KStreamyError as exc:
        fail(exc)


@cli.command(cls=Command)
def status(
    app_spec: AppSpec,
    state_dir: Annotated[
        list[str] | None,
        typer.Option(
            help="A state_dir of instances on this host (repeatable; default: the app's setting)"
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", "-b", help="Override the Kafka brokers")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    watch: Annotated[
        float | None,
        typer.Option(help="Refresh every N seconds until Ctrl-C", min=0.1, metavar="N"),
    ] = None,
    sets: Sets = None,
) -> None:
    """Show the application's live group members, their tasks, lag, restoration and errors.

    From the broker: the group's members and the tasks each owns, committed offsets and the
    end offsets the broker reports (lag). From the status files of instances on this host
    (rewritten on every assignment change and commit): restoration progress, watermarks, the
    last error (why an instance stopped) and counters. Exits with 1 when neither is available.
    """
    from kstreamy_cli.status import run_status

    app = load_app(app_spec, overrides(sets, None, bootstrap_servers))
    if not run_status(app, state_dir or [], as_json, watch):
        raise typer.Exit(1)


@cli.command(cls=Command)
def broker(
    port: Annotated[
        int | None,
        typer.Option(metavar="PORT", help="Port on 127.0.0.1 (default: a free one)"),
    ] = None,
) -> None:
    """Start the embedded broker (Tansu, in memory) and print its bootstrap address.

    Runs until Ctrl-C or SIGTERM. Memory only: stopping it loses every topic. Applications
    started on it use short group timeouts, so group joins take a second or two.
    """
    from kstreamy.testing.broker import EmbeddedBroker

    embedded = EmbeddedBroker(port=port)
    try:
        address = embedded.start()
    except KStreamyError as exc:
        fail(exc)
    typer.echo(address, nl=True)
    typer.echo(f"embedded broker ready; export KSTREAMY_BOOTSTRAP_SERVERS={address}", err=True)
    sys.stdout.flush()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            if not embedded.running:
                typer.secho("error: the broker exited", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
    finally:
        embedded.stop()
        typer.echo("embedded broker stopped", err=True)


@cli.command(
    cls=Command,
    epilog="Example: kstreamy demo --fast --step 2",
)
def demo(
    fast: Annotated[
        bool, typer.Option("--fast", help="Less data, so the walkthrough takes under a minute")
    ] = False,
    step: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            max=6,
            help="Run one scenario: 1 event time, 2 failure, 3 planned downtime, "
            "4 code upgrade, 5 reprocessing, 6 rescaling",
            show_default=False,
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers",
            "-b",
            metavar="HOST:PORT",
            help="Use this broker instead of the embedded one",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Walk through event time, failures, downtime, upgrades, reprocessing and rescaling.

    Each scenario runs real instance processes and the same kstreamy commands you would type,
    checks the output against values computed offline and prints PASS or FAIL; the command
    exits with 1 if any check fails.
    """
    from kstreamy_cli.demo.runner import run_demo

    try:
        ok = run_demo(fast=fast, step=step, bootstrap_servers=bootstrap_servers)
    except KStreamyError as exc:
        fail(exc)
    if not ok:
        raise typer.Exit(1)


cli.add_typer(savepoint_cli, name="savepoint")
cli.command(
    epilog="Example: kstreamy reset shop.orders:app --to-savepoint /backups/sp/orders-… --dry-run"
)(reset)


def main() -> None:
    cli(prog_name="kstreamy")
