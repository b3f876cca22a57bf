"""The six scenarios of the walkthrough. Each builds what it needs on topics of its own, acts
as an operator would, and checks the output against the offline expectation (``data``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kstreamy_cli.demo.data import (
    Reading,
    WindowKey,
    closed_windows,
    event_span_seconds,
    expected_results,
    readings,
    sensors_covering,
)
from kstreamy_cli.demo.report import StepResult
from kstreamy_cli.demo.world import OutputReader, Scenario

Results = list[tuple[WindowKey, dict[str, Any]]]


@dataclass(frozen=True)
class Scale:
    """How much data each scenario pushes through: ``--fast`` or the full walkthrough."""

    sensors: int
    minutes: float
    every: float
    timeout: float


FAST = Scale(sensors=8, minutes=6.5, every=5.0, timeout=60.0)
FULL = Scale(sensors=24, minutes=30.5, every=2.0, timeout=180.0)


def _exactly_once(result: StepResult, records: Results, expected: dict[WindowKey, Any]) -> None:
    """The two claims every scenario makes: one result per window, each one right."""
    keys = [key for key, _ in records]
    result.check("every closed window is written exactly once", len(set(keys)), len(keys))
    wrong = sum(1 for key, value in records if expected.get(key) != value)
    missing = len(set(expected) - set(keys))
    result.check(
        f"all {len(expected)} windows match the offline expectation",
        "0 wrong, 0 missing",
        f"{wrong} wrong, {missing} missing",
    )


def _brief(value: dict[str, Any] | None) -> str:
    return "-" if value is None else f"{value['readings']} readings, max {value['max_c']}"


def _first_half(batch: list, share: float = 0.5) -> tuple[list, list]:
    cut = int(len(batch) * share)
    return batch[:cut], batch[cut:]


@dataclass
class Stopped:
    """Where ``_run_and_stop`` leaves a scenario: stopped at a savepoint after ``first``."""

    batch: list[Reading]
    first: list[Reading]
    second: list[Reading]
    before: dict[WindowKey, dict[str, int]]
    savepoint: str
    out: OutputReader


def _run_and_stop(
    sc: Scenario, scale: Scale, partitions: int, version: str = "v1", share: float = 0.5
) -> Stopped:
    """Two instances of ``version`` process the first part of the input; once its windows are
    out, stop them with a savepoint (the start of scenarios 3 to 6)."""
    batch = readings(sensors_covering(4, scale.sensors), scale.minutes, scale.every)
    first, second = _first_half(batch, share)
    sc.create_topics(partitions)
    out = sc.output()
    sc.start(2, version=version)
    sc.produce(first)
    before = closed_windows(first, partitions)
    out.read_until(len(before), scale.timeout, f"results of {version}", sc.check_alive)
    running = sc.running()
    savepoint = sc.savepoint(stop=True)
    sc.wait_exited(running)
    return Stopped(batch, first, second, before, savepoint, out)


def event_time(sc: Scenario, scale: Scale, result: StepResult) -> None:
    """Windows on event time are right whatever the arrival order; on arrival time they are not."""
    batch = readings(sensors_covering(4, scale.sensors), scale.minutes, scale.every)
    newest, moved = 0.0, 0
    for r in batch:  # readings that reach Kafka after one measured later than them
        moved += r.ts < newest
        newest = max(newest, r.ts)
    sc.say.note(
        f"{len(batch)} readings of {scale.sensors} sensors over {scale.minutes} minutes, each "
        f"reaching Kafka up to 13.5 s late: {moved} arrive after a later reading"
    )
    sc.create_topics(4, clocks=("event", "arrival"))
    sc.produce(batch)
    event_out, arrival_out = sc.output("event"), sc.output("arrival")
    sc.start(1, clock="event")
    sc.start(1, clock="arrival")
    truth = expected_results(closed_windows(batch, 4, "event"), "v1")
    by_arrival = expected_results(closed_windows(batch, 4, "arrival"), "v1")
    got = event_out.read_until(len(truth), scale.timeout, "event-time windows", sc.check_alive)
    got_arrival = arrival_out.read_until(
        len(by_arrival), scale.timeout, "arrival-time windows", sc.check_alive
    )
    _exactly_once(result, got, truth)
    arrival_map = dict(got_arrival)
    result.check("arrival-time windows are what arrival order gives", by_arrival, arrival_map)
    differ = sorted(k for k in truth if arrival_map.get(k) != truth[k])
    result.check(
        "windows on arrival time would be wrong (the reason for event time)",
        "some differ",
        f"{len(differ)} of {len(truth)} differ",
        passed=bool(differ),
    )
    rows = [
        [
            sensor,
            time.strftime("%H:%M", time.gmtime(start)),
            truth[(sensor, start)],
            dict(got).get((sensor, start)),
            arrival_map.get((sensor, start)),
        ]
        for sensor, start in differ[:4]
    ]
    sc.say.table(
        "a few sensor-minutes", ["sensor", "minute", "truth", "event time", "arrival time"], rows
    )
    sc.stop()


def failure(sc: Scenario, scale: Scale, result: StepResult) -> None:
    """SIGKILL one of two instances; the other restores its state and the output stays exact."""
    batch = readings(sensors_covering(4, scale.sensors), scale.minutes, scale.every)
    first, second = _first_half(batch)
    sc.create_topics(4)
    out = sc.output()
    sc.start(2)
    last = sc.produce(first)
    out.read_until(len(closed_windows(first, 4)), scale.timeout, "the first half", sc.check_alive)
    victim = sc.instances[0]
    if sc.world.embedded:
        # The embedded broker shows aborted transactions to read_committed readers (a known
        # deviation from Kafka), so the kill waits for a commit; on Kafka it comes mid-stream.
        sc.wait_committed(last, scale.timeout)
    else:
        sc.produce(second)
    sc.say.note(f"owners before: {sc.owners()}")
    sc.say.command(f"kill -9 {victim.process.pid}   # instance {victim.name}")
    sc.kill(victim)
    if sc.world.embedded:
        sc.produce(second)
    truth = expected_results(closed_windows(batch, 4), "v1")
    got = out.read_until(len(truth), scale.timeout, "every window", sc.check_alive)
    owners = sc.wait_owners(lambda o: max(map(len, o.values()), default=0) == 4, scale.timeout)
    sc.say.note(f"owners after: {owners}")
    _exactly_once(result, got, truth)
    result.check(
        "the surviving instance took over every partition",
        4,
        max((len(p) for p in owners.values()), default=0),
    )
    sc.stop()


def downtime(sc: Scenario, scale: Scale, result: StepResult, new_version: str = "v1") -> None:
    """Stop with a savepoint, input keeps coming, restart from the savepoint (maybe upgraded)."""
    stopped = _run_and_stop(sc, scale, 4)
    batch, before, out = stopped.batch, stopped.before, stopped.out
    sc.say.note("all instances stopped; readings keep arriving meanwhile")
    sc.produce(stopped.second)
    sc.reset_to(stopped.savepoint, new_version)
    sc.start(2, version=new_version)
    every = closed_windows(batch, 4)
    got = out.read_until(len(every), scale.timeout, "every window", sc.check_alive)
    expected = {
        **expected_results({k: v for k, v in every.items() if k not in before}, new_version),
        **expected_results(before, "v1"),
    }
    _exactly_once(result, got, expected)
    if new_version != "v1":
        after = [v for k, v in got if k not in before]
        result.check(
            f"results after the restart come from {new_version} (with mean_c)",
            len(after),
            sum("mean_c" in v for v in after),
        )
        sample = next((k, v) for k, v in got if k not in before)
        sc.say.note(f"a result of {new_version}: {sample[0]} -> {sample[1]}")
    sc.stop()


def reprocessing(sc: Scenario, scale: Scale, result: StepResult) -> None:
    """A faulty release ran; go back to the savepoint before it and recompute with the fix."""
    stopped = _run_and_stop(sc, scale, 4, version="v2", share=0.3)
    batch, second, before, out = stopped.batch, stopped.second, stopped.before, stopped.out
    savepoint = stopped.savepoint
    sc.say.note("release v3-bug goes live: its max_f forgets the + 32")
    sc.reset_to(savepoint, "v3-bug")
    sc.start(2, version="v3-bug")
    sc.produce(second)
    every = closed_windows(batch, 4)
    later = {k: v for k, v in every.items() if k not in before}
    buggy = out.read_until(len(every), scale.timeout, "results of v3-bug", sc.check_alive)
    sc.stop()
    sample = next(k for k, _ in buggy if k in later)
    sc.say.note(f"bad output, e.g. {sample}: {dict(buggy)[sample]}")
    sc.reset_to(savepoint, "v3")
    began = time.monotonic()
    sc.start(2, version="v3")
    got = out.read_until(len(buggy) + len(later), scale.timeout, "fixed results", sc.check_alive)
    took = time.monotonic() - began
    fixed = got[len(buggy) :]
    sc.say.note(f"fixed output, e.g. {sample}: {dict(fixed)[sample]}")
    _exactly_once(result, fixed, expected_results(later, "v3"))
    span = event_span_seconds(second)
    result.check(
        "reprocessing runs faster than real time",
        "> 1x",
        f"{span / took:.0f}x ({span:.0f} s of events in {took:.1f} s, start-up included)",
        passed=span > took,
    )
    sc.stop()


def rescaling(sc: Scenario, scale: Scale, result: StepResult) -> None:
    """From 2 instances on 2 partitions to 3 instances on 4, through a savepoint."""
    stopped = _run_and_stop(sc, scale, 2)
    batch, before, out = stopped.batch, stopped.before, stopped.out
    sc.grow(sc.topics["readings"], 4)
    sc.reset_to(stopped.savepoint)
    sc.start(3)
    sc.produce(stopped.second)
    every = {**closed_windows(batch, 4), **before}
    got = out.read_until(len(every), scale.timeout, "every window", sc.check_alive)
    _exactly_once(result, got, expected_results(every, "v1"))
    owners = sc.owners()
    sc.say.note(f"owners after: {owners}")
    result.check(
        "3 instances share the 4 partitions",
        [3, 4],
        [len(owners), sum(len(p) for p in owners.values())],
    )
    sc.stop()
