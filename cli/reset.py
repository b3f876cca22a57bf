"""``kstreamy reset``: put an application back to a savepoint, its beginning or a time."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from kstreamy.errors import KStreamyError
from kstreamy_cli.options import Sets
from kstreamy_cli.progress import RichProgress, console
from kstreamy_cli.savepoint_options import AppSpec, Bootstrap, fail, load


def parse_time(text: str) -> int:
    """ISO 8601 to epoch milliseconds; a time without zone is UTC."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"--to-datetime {text!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def reset(
    app_spec: AppSpec,
    to_savepoint: Annotated[
        str | None, typer.Option(help="Go back to this savepoint (state, offsets, watermarks)")
    ] = None,
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="Reprocess every input from its beginning")
    ] = False,
    to_datetime: Annotated[
        str | None,
        typer.Option(help="Reprocess from this time (ISO 8601, UTC if no zone), empty state"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every change it would make, change nothing")
    ] = False,
    allow_non_restored_state: Annotated[
        bool,
        typer.Option(help="Drop the state of stores the application no longer has"),
    ] = False,
    partitioner: Annotated[
        str | None,
        typer.Option(
            help="How the input topics' producers partition (murmur2 or crc32); "
            "default: as recorded in the savepoint"
        ),
    ] = None,
    bootstrap_servers: Bootstrap = None,
    sets: Sets = None,
) -> None:
    """Reset the application, with no instance running, to start again from a known point.

    Sets the consumer group's offsets on the input topics, empties the changelogs and
    repartition topics (re-creating them), reseeds the changelogs from the savepoint (moving
    state by key if partition counts changed), and starts a new reset generation so every
    instance drops local state from before. Refuses while instances run. An interrupted reset
    is completed by running the same command again.
    """
    from kstreamy.ops.group import await_departures, check_liveness
    from kstreamy.ops.reset_plan import plan_reset
    from kstreamy.ops.reset_run import run_reset

    app = load(app_spec, bootstrap_servers, sets)
    time_ms = parse_time(to_datetime) if to_datetime else None
    if to_savepoint:
        target = f"savepoint {to_savepoint}"
    elif to_earliest:
        target = "the earliest offsets"
    else:
        target = f"{to_datetime}"
    try:
        liveness = check_liveness(app.config)
        if not dry_run:
            liveness = await_departures(app.config, liveness, typer.echo)
        if liveness.alive and not dry_run:
            raise KStreamyError(liveness.refusal("reset", app.config))
        with RichProgress() as progress:
            plan = plan_reset(
                app.topology,
                app.config,
                savepoint_path=to_savepoint,
                to_earliest=to_earliest,
                to_time_ms=time_ms,
                target_text=target,
                allow_non_restored_state=allow_non_restored_state,
                partitioner_name=partitioner,
                progress=progress,
            )
        for note in plan.notes:
            console.print(f"note: {note}", highlight=False)
        if dry_run:
            typer.echo(f"reset of {app.application_id} to {plan.target} would:")
            for line in plan.lines():
                typer.echo(f"  {line}")
            if liveness.alive:
                console.print(f"[yellow]{liveness.refusal('reset', app.config)}[/yellow]")
            return
        with RichProgress() as progress:
            generation = run_reset(plan, app.config, progress)
    except KStreamyError as exc:
        raise fail(exc) from exc
    typer.echo(
        f"reset {app.application_id} to {plan.target} (generation {generation}); "
        "start the instances"
    )
