"""``kstreamy status``: print an instance's status file for people."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from kstreamy.runtime.status import read_status, status_path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def show_status(app_state_dir: Path) -> bool:
    path = status_path(app_state_dir)
    status = read_status(path)
    if status is None:
        typer.secho(f"no instance status at {path} (never started here?)", err=True)
        return False
    pid = status.get("pid", 0)
    state = status.get("state", "?")
    if state in ("running", "starting") and not _alive(pid):
        state = f"{state}, but process {pid} is gone (killed?)"
    age = time.time() - status.get("updated_at", time.time())
    typer.echo(f"application  {status.get('application_id')}")
    typer.echo(f"instance     pid {pid}: {state} (status written {age:.0f}s ago)")
    if status.get("error"):
        typer.secho(f"stopped by   {status['error']}", fg=typer.colors.RED)
    tasks = status.get("tasks", {})
    restoring = status.get("restoring", {})
    typer.echo(f"tasks        {len(tasks)}")
    for task, task_state in tasks.items():
        extra = ""
        if task in restoring:
            progress = restoring[task]
            extra = (
                f" ({progress['restored']} records restored, about "
                f"{progress.get('remaining', '?')} to go, {progress.get('records_per_s', '?')}"
                " records/s)"
            )
        typer.echo(f"  {task:<10} {task_state}{extra}")
    typer.echo(f"restored     {status.get('records_restored', 0)} records since start")
    committed = status.get("committed", {})
    if committed:
        typer.echo("committed")
        for partition, offset in committed.items():
            typer.echo(f"  {partition:<40} {offset}")
    metrics = status.get("metrics", {})
    typer.echo(
        "records      " + ", ".join(f"{k.removeprefix('records_')} {v}" for k, v in metrics.items())
    )
    return True
