"""``kstreamy savepoint``: create, list, inspect and verify savepoints."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kstreamy.errors import KStreamyError
from kstreamy_cli.loading import load_app
from kstreamy_cli.options import Sets
from kstreamy_cli.progress import RichProgress, out
from kstreamy_cli.savepoint_options import AppSpec, Bootstrap, SavepointPath, fail, load
from kstreamy_cli.savepoint_state import export, query

savepoint_cli = typer.Typer(
    help="Savepoints: retained snapshots of input positions and state, to restart from.",
    no_args_is_help=True,
)


@savepoint_cli.command(
    epilog="Example: kstreamy savepoint create shop.orders:app --dir /backups/savepoints --stop"
)
def create(
    app_spec: AppSpec,
    dir: Annotated[str, typer.Option("--dir", help="Directory to create the savepoint in")],
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the instances right after their snapshot")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every task")] = 300.0,
    partitioner: Annotated[
        str, typer.Option(help="How the input topics' producers partition: murmur2 or crc32")
    ] = "murmur2",
    bootstrap_servers: Bootstrap = None,
    sets: Sets = None,
) -> None:
    """Take a savepoint of the application and print its path.

    With instances running, each snapshots its tasks at its next commit, so state and offsets
    match exactly; the command waits until every task is covered. With --stop the instances stop
    right after (nothing is processed after the savepoint). With no instance running, the
    savepoint is built from the committed offsets and the changelogs.
    """
    from kstreamy.ops.create import create_savepoint

    app = load(app_spec, bootstrap_servers, sets)
    try:
        with RichProgress() as progress:
            location = create_savepoint(
                app.topology, app.config, dir, stop, timeout, progress, partitioner
            )
    except KStreamyError as exc:
        raise fail(exc) from exc
    typer.echo(location)


@savepoint_cli.command(name="list", epilog="Example: kstreamy savepoint list /backups/savepoints")
def list_(
    dir: Annotated[str, typer.Argument(help="Directory holding savepoints")],
) -> None:
    """List the savepoints in a directory, oldest first."""
    from rich.table import Table

    from kstreamy.savepoint import list_savepoints

    try:
        found = list_savepoints(dir)
    except KStreamyError as exc:
        raise fail(exc) from exc
    if not found:
        out.print(f"no savepoints in {dir}")
        return
    table = Table("savepoint", "application", "created", "mode", "tasks", "bytes")
    for entry in found:
        m = entry.manifest
        if m is None:
            table.add_row(entry.location, "[red]unreadable[/red]", "", "", "", entry.error or "")
            continue
        size = sum(ref.bytes for _, ref in m.files())
        table.add_row(
            entry.location, m.application_id, m.created_at, m.mode, str(len(m.tasks)), str(size)
        )
    out.print(table)


@savepoint_cli.command(epilog="Example: kstreamy savepoint inspect /backups/savepoints/orders-…")
def inspect(
    path: SavepointPath,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON")] = False,
) -> None:
    """Show what a savepoint holds: stores, tasks, input offsets, watermarks."""
    from rich.table import Table

    from kstreamy.savepoint import Savepoint

    try:
        manifest = Savepoint.open(path).manifest
    except KStreamyError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(manifest.to_json().decode())
        return
    typer.echo(f"savepoint    {manifest.savepoint_id}")
    typer.echo(f"application  {manifest.application_id}")
    typer.echo(f"created      {manifest.created_at} ({manifest.mode})")
    typer.echo(
        f"format       version {manifest.format_version}, kstreamy {manifest.kstreamy_version}"
    )
    typer.echo(f"topology     {manifest.topology_fingerprint}")
    stores = Table("store", "kind", "key serde", "value serde", "entries", "changelog")
    for name, info in sorted(manifest.stores.items()):
        entries = sum(t.stores[name].entries for t in manifest.tasks.values() if name in t.stores)
        stores.add_row(
            name,
            info.kind,
            str(info.key_serde.get("name")),
            str(info.value_serde.get("name")),
            str(entries),
            info.changelog_topic or "-",
        )
    out.print(stores)
    tasks = Table("task", "input offsets", "entries", "watermarks")
    for tid, task in sorted(manifest.tasks.items()):
        offsets = ", ".join(f"{t}@{o}" for t, o in sorted(task.input_offsets.items()))
        entries = sum(ref.entries for ref in task.stores.values())
        tasks.add_row(tid, offsets, str(entries), json.dumps(task.watermarks) or "")
    out.print(tasks)
    for topic, parts in sorted(manifest.in_flight.items()):
        count = sum(ref.entries for ref in parts.values())
        typer.echo(f"in flight    {topic}: {count} records")


@savepoint_cli.command(
    epilog="Example: kstreamy savepoint verify /backups/savepoints/orders-… shop.orders:app"
)
def verify(
    path: SavepointPath,
    app_spec: Annotated[
        str | None,
        typer.Argument(help="Also check the savepoint fits this application (module:app)"),
    ] = None,
    allow_non_restored_state: Annotated[
        bool, typer.Option(help="A store the application no longer has is not an error")
    ] = False,
) -> None:
    """Check every file's size and sha256, and (given an app) that its stores fit the app."""
    from kstreamy.savepoint import Savepoint
    from kstreamy.savepoint.topology_info import check_restore

    app = load_app(app_spec) if app_spec else None
    try:
        savepoint = Savepoint.open(path, app.application_id if app else None)
        with RichProgress() as progress:
            progress.begin("checking files", savepoint.total_bytes())
            checked = savepoint.verify(progress.advance)
        if app is not None:
            mapping = check_restore(savepoint.manifest, app.topology, allow_non_restored_state)
            for store in mapping.new_stores:
                typer.echo(f"store {store} is new: it starts empty")
            for store in mapping.dropped_stores:
                typer.echo(f"store {store} is not in the application: its state is dropped")
    except KStreamyError as exc:
        raise fail(exc) from exc
    typer.echo(f"savepoint {savepoint.location} is intact ({checked} bytes checked)")


savepoint_cli.command(
    epilog="Example: kstreamy savepoint query /backups/sp/orders-… --store counts --key user-7"
)(query)
savepoint_cli.command(
    epilog="Example: kstreamy savepoint export /backups/sp/orders-… --store counts > counts.jsonl"
)(export)
