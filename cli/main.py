"""``kstreamy``: run, describe and operate kstreamy applications."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from kstreamy.errors import KStreamyError
from kstreamy_cli.loading import load_app
from kstreamy_cli.reset import reset
from kstreamy_cli.savepoint import savepoint_cli

cli = typer.Typer(
    help="Run and operate kstreamy stream-processing applications.",
    no_args_is_help=True,
    add_completion=False,
)

AppSpec = Annotated[str, typer.Argument(help="The application, as package.module:attribute")]


@cli.command()
def run(
    app_spec: AppSpec,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", "-b", help="Override the Kafka brokers")
    ] = None,
) -> None:
    """Start ONE instance of the application in this process.

    Start the same command again (here or on another machine) to scale out: instances with the
    same application id share the input partitions. SIGTERM or Ctrl-C stops gracefully.
    """
    app = load_app(app_spec)
    if bootstrap_servers:
        app.config.bootstrap_servers = bootstrap_servers
    try:
        app.run()
    except KStreamyError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.secho(
            "stopped at once (second signal): nothing committed since the last commit", err=True
        )
        raise typer.Exit(130) from None


@cli.command()
def describe(app_spec: AppSpec) -> None:
    """Print the application's topology: sub-topologies, processors, topics."""
    app = load_app(app_spec)
    try:
        typer.echo(app.describe())
    except KStreamyError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


@cli.command()
def status(
    app_spec: AppSpec,
    state_dir: Annotated[
        str | None, typer.Option(help="The instance's state_dir, if not the app's setting")
    ] = None,
) -> None:
    """Show what the instance using this state directory owns and how far it got.

    Reads the status file a running instance rewrites on every assignment change, commit and,
    while restoring state, every second: tasks (running or restoring, with records restored),
    committed offsets and counters.
    """
    from kstreamy_cli.status import show_status

    app = load_app(app_spec)
    if state_dir:
        app.config.state_dir = state_dir
    if not show_status(app.config.app_state_dir):
        raise typer.Exit(1)


@cli.command()
def broker(
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one)")
    ] = None,
) -> None:
    """Start the embedded broker (Tansu, in memory) and print its bootstrap address.

    Runs until Ctrl-C or SIGTERM. Memory only: stopping it loses every topic.
    """
    from kstreamy.testing.broker import EmbeddedBroker

    embedded = EmbeddedBroker(port=port)
    try:
        address = embedded.start()
    except KStreamyError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
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


@cli.command()
def demo(
    events: Annotated[int, typer.Option(help="How many sample events to produce")] = 20000,
    instances: Annotated[int, typer.Option(help="How many instance processes to run")] = 2,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers", "-b", help="Use this broker instead of the embedded one"
        ),
    ] = None,
) -> None:
    """Run the sample application end to end on the embedded broker and print the results."""
    from kstreamy_cli.demo import run_demo

    try:
        run_demo(events=events, instances=instances, bootstrap_servers=bootstrap_servers)
    except KStreamyError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


cli.add_typer(savepoint_cli, name="savepoint")
cli.command(
    epilog="Example: kstreamy reset shop.orders:app --to-savepoint /backups/sp/orders-… --dry-run"
)(reset)


def main() -> None:
    cli()
