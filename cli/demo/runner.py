"""``kstreamy demo``: the robust-stream-processing walkthrough, end to end, checked.

Six scenarios run one after the other on the embedded broker (or a given one), each on topics
of its own; every check prints PASS or FAIL, a table sums them up, and any FAIL makes the
command exit non-zero.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from kstreamy_cli.demo import scenarios
from kstreamy_cli.demo.report import Narrator, StepResult
from kstreamy_cli.demo.world import Scenario, World

Run = Callable[[Scenario, scenarios.Scale, StepResult], None]

STEPS: dict[int, tuple[str, str]] = {
    1: (
        "event time",
        "Sensor readings reach Kafka late and out of order. One-minute windows on the time "
        "each reading was taken are exact; the same windows on arrival time are not.",
    ),
    2: (
        "failure",
        "Two instances share the work under exactly-once. One is killed with SIGKILL; the "
        "other restores its state from the changelogs and carries on. No window is lost or "
        "written twice.",
    ),
    3: (
        "planned downtime",
        "Stop with a savepoint, let input pile up, reset to the savepoint and start again: "
        "nothing lost, nothing repeated.",
    ),
    4: (
        "code upgrade",
        "Stop with a savepoint and start a new release (a new output field) from it: the "
        "windows open at the stop continue with their state and come out in the new format.",
    ),
    5: (
        "reprocessing",
        "A faulty release wrote wrong results. Reset to the savepoint taken before it, start "
        "the fixed release: it recomputes everything since, faster than real time.",
    ),
    6: (
        "rescaling",
        "Stop with a savepoint, grow the input from 2 to 4 partitions, reset: each sensor's "
        "state moves to the partition its key now maps to, and 3 instances share the work.",
    ),
}


RUNS: dict[int, Run] = {
    1: scenarios.event_time,
    2: scenarios.failure,
    3: scenarios.downtime,
    4: functools.partial(scenarios.downtime, new_version="v2"),
    5: scenarios.reprocessing,
    6: scenarios.rescaling,
}
SIDE_BY_SIDE = 6
"""With ``--fast``, how many scenarios run at once. They wait on the broker (group joins,
session timeouts) far more than they compute, so all six fit on two cores."""
LONGEST_FIRST = [5, 6, 3, 4, 2, 1]


def run_demo(fast: bool, step: int | None, bootstrap_servers: str | None) -> bool:
    """Run the walkthrough (or one step of it); True when every check passed."""
    say = Narrator()
    scale = scenarios.FAST if fast else scenarios.FULL
    broker = None
    if bootstrap_servers is None:
        from kstreamy.testing.broker import EmbeddedBroker

        broker = EmbeddedBroker()
        bootstrap_servers = broker.start()
        say.note(f"embedded broker at {bootstrap_servers}")
    workdir = Path(tempfile.mkdtemp(prefix="kstreamy-demo-"))
    world = World(bootstrap_servers, workdir, embedded=broker is not None)
    numbers = [step] if step else sorted(STEPS)
    results: list[StepResult] = []
    began = time.monotonic()
    try:
        if fast and len(numbers) > 1:
            results = _side_by_side(world, numbers, scale, say)
        else:
            results = [_run_step(world, n, scale, say) for n in numbers]
    finally:
        if results and all(r.passed for r in results):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say.note(f"logs of the instances are kept in {workdir}")
        if broker is not None:
            broker.stop()
    say.summary(results)
    ok = all(r.passed for r in results)
    outcome = "[green]all checks passed[/]" if ok else "[red]SOME CHECKS FAILED[/]"
    say.console.print(f"{outcome} in {time.monotonic() - began:.0f}s")
    return ok


def _side_by_side(
    world: World, numbers: list[int], scale: scenarios.Scale, say: Narrator
) -> list[StepResult]:
    """Run the scenarios a few at a time, each narrating into a buffer of its own, and print
    the buffers in step order as soon as each one and all before it are done."""
    buffers = {n: Narrator.buffered(say) for n in numbers}
    order = sorted(numbers, key=LONGEST_FIRST.index)
    done: dict[int, StepResult] = {}
    printed = 0
    with (
        ThreadPoolExecutor(SIDE_BY_SIDE) as pool,
        say.console.status(f"running {len(numbers)} scenarios, {SIDE_BY_SIDE} at a time") as status,
    ):
        futures = {pool.submit(_run_step, world, n, scale, buffers[n]): n for n in order}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            status.update(f"{len(done)} of {len(numbers)} scenarios done")
            while printed < len(numbers) and numbers[printed] in done:
                say.replay(buffers[numbers[printed]])
                printed += 1
    return [done[n] for n in numbers]


def _run_step(world: World, number: int, scale: scenarios.Scale, say: Narrator) -> StepResult:
    title, story = STEPS[number]
    say.step(number, title, story)
    result = StepResult(number, title)
    scenario = world.scenario(number, say)
    began = time.monotonic()
    try:
        RUNS[number](scenario, scale, result)
    except Exception as exc:  # a scenario that cannot go on is a FAIL, not a crash
        result.error = f"{type(exc).__name__}: {exc}"
        say.note(f"[red]FAIL[/] {result.error}")
        say.note(traceback.format_exc(limit=3))
    finally:
        scenario.cleanup()
        result.seconds = time.monotonic() - began
    for check in result.checks:
        say.verdict(check)
    return result
