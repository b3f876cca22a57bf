"""``kstreamy status``: the group as the broker sees it, plus this host's instance status files."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer

from kstreamy import App
from kstreamy.ops.group_status import group_status, local_statuses


def show_status(app_state_dir: Path) -> bool:
    """Print the status file of the instance using ``app_state_dir``; False if there is none."""
    found = local_statuses([app_state_dir])
    if not found:
        typer.secho(f"no instance status at {app_state_dir} (never started here?)", err=True)
        return False
    _show_local(found[0])
    return True


def run_status(app: App, state_dirs: list[str], as_json: bool, watch: float | None) -> bool:
    """Print the status once, or every ``watch`` seconds until Ctrl-C."""
    dirs = [Path(d) / app.application_id for d in state_dirs] or [app.config.app_state_dir]
    if watch is None:
        return _print(app, dirs, as_json, clear=False)
    # Ctrl-C sets a flag rather than raising: raised inside a Kafka client's callback (a log
    # line served while a client is torn down, say) the KeyboardInterrupt would be swallowed
    # and the watch would go on for ever.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.is_set():
            _print(app, dirs, as_json, clear=not as_json and sys.stdout.isatty())
            sys.stdout.flush()
            stop.wait(watch)  # the refresh interval the user asked for
    finally:
        signal.signal(signal.SIGINT, previous)
    return True


def _print(app: App, dirs: list[Path], as_json: bool, clear: bool) -> bool:
    view = group_status(app.config, app.topology, dirs)
    if as_json:
        typer.echo(json.dumps(view, sort_keys=True))
    else:
        if clear:
            typer.echo("\x1b[2J\x1b[H", nl=False)
        _show_view(view)
    return view["broker_error"] is None or bool(view["local"])


def _show_view(view: dict[str, Any]) -> None:
    group = view["group"]
    typer.echo(f"application  {view['application_id']} on {view['bootstrap_servers']}")
    if view["broker_error"]:
        typer.secho(f"broker       {view['broker_error']}", fg=typer.colors.RED)
    elif group is not None:
        typer.echo(f"group        {group['state']}, {len(view['members'])} live member(s)")
    local = {s.get("instance_id"): s for s in view["local"]}
    shown: set[str] = set()
    for member in view["members"]:
        instance = member["instance_id"] or member["client_id"]
        shown.add(instance)
        typer.echo(f"member       {instance} at {member['host']}")
        typer.echo(f"  tasks      {', '.join(member['tasks']) or '-'}")
        if instance in local:
            _show_local(local[instance], indent="  ")
    for instance, record in sorted(view["endpoints"].items()):
        if instance in shown:
            continue
        shown.add(instance)
        typer.echo(f"instance     {instance} (endpoints topic) query endpoint {record.get('url')}")
        typer.echo(f"  tasks      {', '.join(record.get('tasks', [])) or '-'}")
        if record.get("restoring"):
            typer.echo(f"  restoring  {', '.join(record['restoring'])}")
        if instance in local:
            _show_local(local[instance], indent="  ")
    for status in view["local"]:
        if status.get("instance_id") not in shown:
            typer.echo(f"on this host {status.get('instance_id')} ({status['state_dir']})")
            _show_local(status, indent="  ")
    if view["lag"]:
        typer.echo("lag          committed vs end offsets, as the broker reports them")
        for row in view["lag"]:
            lag = "?" if row["lag"] is None else row["lag"]
            where = f"{row['topic']}[{row['partition']}]"
            typer.echo(
                f"  {where:<40} task {row['task']:<6} committed {_opt(row['committed']):>8}  "
                f"end {_opt(row['end']):>8}  lag {lag}"
            )
    for note in view["notes"]:
        typer.secho(f"note         {note}", fg=typer.colors.YELLOW)


def task_figures(stats: dict[str, Any]) -> str:
    """One line of a task's lag, recent end-to-end latency and watermark delay, from what the
    instance wrote in ``task_stats`` (empty when it wrote none: older instances, idle tasks)."""
    parts = []
    lag = stats.get("lag")
    if lag:
        detail = (
            f" ({', '.join(f'{p} {n}' for p, n in sorted(lag.items()))})" if len(lag) > 1 else ""
        )
        parts.append(f"lag {sum(lag.values())}{detail}")
    for stage, figures in sorted(stats.get("latency_ms", {}).items(), reverse=True):
        parts.append(f"{stage} latency p50 {_ms(figures.get('p50'))} p99 {_ms(figures.get('p99'))}")
    delay = stats.get("watermark_delay_ms")
    if delay is not None:
        parts.append(f"watermark {_ms(delay)} behind")
    return ", ".join(parts)


def _ms(value: float | None) -> str:
    if value is None:
        return "?"
    if value >= 10_000:
        return f"{value / 1000:.0f} s"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def _show_local(status: dict[str, Any], indent: str = "") -> None:
    """One instance's status file: state, tasks with restoration, error, watermarks, counters."""
    out = typer.echo
    age = time.time() - status.get("updated_at", time.time())
    if not indent:
        out(f"application  {status.get('application_id')}")
    out(
        f"{indent}instance     pid {status.get('pid')}: {status.get('state')} "
        f"(status written {age:.0f}s ago)"
    )
    if status.get("error"):
        typer.secho(f"{indent}error        {status['error']}", fg=typer.colors.RED)
    tasks = status.get("tasks", {})
    restoring = status.get("restoring", {})
    task_stats = status.get("task_stats", {})
    out(f"{indent}tasks        {len(tasks)}")
    for task, task_state in tasks.items():
        extra = ""
        if task in restoring:
            progress = restoring[task]
            extra = (
                f" ({progress['restored']} records restored, about "
                f"{progress.get('remaining', '?')} to go, {progress.get('records_per_s', '?')}"
                " records/s)"
            )
        out(f"{indent}  {task:<10} {task_state}{extra}")
        figures = task_figures(task_stats.get(task, {}))
        if figures:
            out(f"{indent}  {'':<10} {figures}")
    out(f"{indent}restored     {status.get('records_restored', 0)} records since start")
    watermarks = status.get("watermarks")
    if watermarks:
        out(f"{indent}watermarks")
        for name, value in sorted(watermarks.items()):
            out(f"{indent}  {name:<40} {value}")
    committed = status.get("committed", {})
    if committed:
        out(f"{indent}committed")
        for partition, offset in committed.items():
            out(f"{indent}  {partition:<40} {offset}")
    metrics = status.get("metrics", {})
    out(
        f"{indent}records      "
        + ", ".join(f"{k.removeprefix('records_')} {v}" for k, v in metrics.items())
    )
