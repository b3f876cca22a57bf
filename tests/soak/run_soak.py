"""Soak under faults: an exactly-once pipeline runs for ``--minutes`` while its instances are
killed and restarted, and must still give exact output without growing.

    KSTREAMY_BOOTSTRAP=127.0.0.1:9092 .venv/bin/python tests/soak/run_soak.py --minutes 30

Three instances of tests/apps/soak_app.py (a repartitioned windowed aggregation emitted when
final, a keyed count, a ProcessFunction with event-time timers) read input sent at a steady
rate. Every 20-40 s (seeded) one of the two faulty instances is SIGKILLed and started again,
now and then with its state directory wiped; every few minutes one of them is stopped with
SIGTERM and started again. The third instance is never signalled: its process is the one whose
growth is judged. Every 10 s each instance's RSS, open files, threads and store size and the
group's lag are sampled and printed. The input stops one to two minutes before the end; then the
outputs, read with read_committed, are compared with the offline expectation.

Targets: exact output; steady-instance RSS growth after warm-up (minute 5) under 10%; no growth
in its open files (other than files under its state directory, which the stores' data and
compactions open and close) or threads; lag back to 0 within 30 s of the input stopping; no instance
exits on its own and every stop exits 0. Exit code 1 when any is missed, 2 on bad usage.

Apache Kafka only: the embedded broker shows records of aborted transactions to read_committed
readers, so exactness cannot be judged there. Not part of the default test run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: tests_support, soak

from confluent_kafka.admin import AdminClient

from kstreamy.kafka.clients import logging_settings
from kstreamy.testing.topics import create_topics, produce
from soak import flow
from soak.fleet import Fleet
from soak.probes import LagProbe, directory_mb, process_sample, rocksdb_log_mb
from soak.report import Outcome, Sample, judge, summary
from tests_support.cluster_flow import Feeder, read_committed_all
from tests_support.instances import InstanceFactory, InstanceProcess
from tests_support.waiting import wait_until

SAMPLE_EVERY_S = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run_soak.py",
        description="Soak an exactly-once kstreamy pipeline under instance faults on Apache "
        "Kafka (KSTREAMY_BOOTSTRAP=host:port); exit code 1 when a target is missed.",
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run (30)")
    parser.add_argument("--rate", type=float, default=300.0, help="input records/s (300)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule (1)")
    parser.add_argument("--partitions", type=int, default=6, help="input partitions (6)")
    parser.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=(20.0, 40.0),
        metavar=("MIN", "MAX"),
        help="seconds between SIGKILLs, drawn uniformly (20 40)",
    )
    parser.add_argument(
        "--wipe-chance",
        type=float,
        default=0.25,
        help="chance a killed instance restarts with its state directory wiped (0.25)",
    )
    parser.add_argument(
        "--stop-every",
        type=float,
        default=150.0,
        help="seconds between clean stops and starts of a faulty instance (150)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=None,
        help="seconds between the input stopping and the end (60 under 10 minutes, else 90)",
    )
    parser.add_argument(
        "--state-memory-mb",
        type=int,
        help="the instances' state_memory_bytes in MiB (the library's default when unset); a "
        "small bound fills RocksDB's cache before the warm-up point",
    )
    parser.add_argument("--report", type=Path, help="write samples and results as JSON here")
    parser.add_argument("--workdir", type=Path, help="state directories and instance logs")
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the topics after a run that passed"
    )
    args = parser.parse_args(argv)
    if args.minutes < 2:
        parser.error("--minutes must be at least 2")
    if args.drain is None:
        args.drain = 60.0 if args.minutes < 10 else 90.0
    return args


class Sampler(threading.Thread):
    """Every 10 s: each slot's process figures and store size, and the group's lag."""

    def __init__(self, fleet: Fleet, lag: LagProbe, feeder: Feeder, started: float) -> None:
        super().__init__(daemon=True, name="soak-sampler")
        self.fleet, self.lag, self.feeder, self.started = fleet, lag, feeder, started
        self.samples: list[Sample] = []
        self.halted = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.halted.wait(max(0.0, next_at - time.monotonic())):
            next_at += SAMPLE_EVERY_S
            self.take()

    def take(self) -> Sample:
        instances = {}
        for name, slot in self.fleet.slots.items():
            instance = slot.instance
            proc = process_sample(instance.pid, slot.state_dir)
            instances[name] = {
                "name": instance.name,
                "pid": instance.pid if proc else None,
                "rss_mb": proc.rss_mb if proc else None,
                "fds": proc.fds if proc else None,
                "store_fds": proc.store_fds if proc else None,
                "threads": proc.threads if proc else None,
                "store_mb": directory_mb(slot.state_dir),
                "rocksdb_log_mb": rocksdb_log_mb(slot.state_dir),
                **_from_status(instance),
            }
        sample = Sample(
            time.monotonic() - self.started, self.feeder.sent, self.lag.lag(), instances
        )
        self.samples.append(sample)
        say(self.started, progress(sample))
        if sample.lag is None:
            say(self.started, f"lag not measured: {self.lag.last_error}")
        return sample

    def stop(self) -> None:
        self.halted.set()
        self.join(60)


def _from_status(instance: InstanceProcess) -> dict[str, Any]:
    """Tasks the instance runs and the memory its stores hold against their bound (block cache
    and memtables), from its status file: what part of RSS is RocksDB's."""
    status = instance.status()
    if status.get("pid") != instance.pid:
        return {"tasks": None, "store_memory_mb": None}
    used = (status.get("store_memory") or {}).get("used_bytes")
    return {
        "tasks": len(status.get("tasks") or {}),
        "store_memory_mb": None if used is None else used / 2**20,
    }


def progress(sample: Sample) -> str:
    parts = [f"in {sample.sent:>7} lag {'?' if sample.lag is None else sample.lag:>6}"]
    for i in sample.instances.values():
        if i["pid"] is None:
            parts.append(f"{i['name']:>4} down")
        else:
            parts.append(
                f"{i['name']:>4} {i['tasks'] if i['tasks'] is not None else '?':>2}t "
                f"{i['rss_mb']:6.1f}M (rocksdb {_fmt_mb(i['store_memory_mb'])}) "
                f"fd {i['fds']:>3} thr {i['threads']:>3} "
                f"store {i['store_mb']:6.1f}M"
            )
    return " | ".join(parts)


def _fmt_mb(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}M"


def say(started: float, text: str) -> None:
    elapsed = int(time.monotonic() - started)
    print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {text}", flush=True)


def run(args: argparse.Namespace, bootstrap: str) -> Outcome:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kstreamy-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    app_id = f"soak-{run_id}"
    topics = {
        f"soak-{run_id}-{what}": args.partitions for what in ("in", "windows", "counts", "alerts")
    }
    create_topics(bootstrap, topics)
    names = list(topics)
    start = flow.start_time()
    params = {
        "input": names[0],
        "windows": names[1],
        "counts": names[2],
        "alerts": names[3],
        "ooo": flow.OOO,
        "timeout": flow.TIMEOUT,
        "settings": {}
        if args.state_memory_mb is None
        else {"state_memory_bytes": args.state_memory_mb * 2**20},
    }
    print(f"soak {app_id}: {args.minutes:g} min at {args.rate:g} records/s; logs in {workdir}")
    fleet = Fleet(InstanceFactory(bootstrap, workdir), app_id, params)
    rng = random.Random(args.seed)
    started = time.monotonic()
    fleet.start_all()
    for slot in fleet.slots.values():
        slot.instance.wait_running(120)
    repartition = f"{app_id}-by-region-repartition"
    lag = LagProbe(bootstrap, app_id, {names[0]: args.partitions, repartition: args.partitions})
    feeder = Feeder(bootstrap, names[0], lambda n: flow.record(n, start), args.rate)
    feeder.start()
    sampler = Sampler(fleet, lag, feeder, started)
    sampler.start()
    end_at = started + args.minutes * 60
    input_stop_at = end_at - args.drain
    next_kill = started + rng.uniform(*args.kill_every)
    # The first clean stop comes by the middle of the input, so a short run has one too.
    next_stop = started + min(args.stop_every, (input_stop_at - started) / 2)
    outcome = Outcome(args.minutes, min(300.0, args.minutes * 10), sampler.samples)
    try:
        while time.monotonic() < input_stop_at:
            for event in fleet.check_alive():
                say(started, event)
            now = time.monotonic()
            if now >= next_kill:
                say(started, fleet.kill_one(rng, args.wipe_chance))
                next_kill = time.monotonic() + rng.uniform(*args.kill_every)
            elif now >= next_stop:
                say(started, fleet.stop_and_start(rng))
                next_stop = time.monotonic() + args.stop_every
            time.sleep(min(1.0, max(0.0, input_stop_at - now)))  # pacing the fault schedule
        outcome.total_inputs = feeder.stop()
        stopped = time.monotonic()
        outcome.input_stopped_at = stopped - started
        _flush(bootstrap, names[0], args.partitions, start)
        say(started, f"input stopped after {outcome.total_inputs} records; flush records sent")
        reached = wait_for_lag_zero(LagProbe(bootstrap, app_id, lag.topics), end_at)
        outcome.lag_zero_after_s = None if reached is None else reached - stopped
        if outcome.lag_zero_after_s is None:
            say(started, "lag not back to 0 by the end")
        else:
            say(started, f"lag 0 {outcome.lag_zero_after_s:.1f} s after the input stopped")
        while time.monotonic() < end_at:
            for event in fleet.check_alive():
                say(started, event)
            time.sleep(min(1.0, max(0.0, end_at - time.monotonic())))  # pacing to the end
        sampler.stop()
        sampler.take()
        outcome.output_problems = check_outputs(
            bootstrap, params, outcome.total_inputs, start, args.partitions
        )
    finally:
        feeder.halt()
        sampler.stop()
        fleet.stop_all()
        lag.close()
    outcome.fleet_problems = list(fleet.problems)
    outcome.faults = {
        name: {"kills": s.kills, "wipes": s.wipes, "stops": s.stops}
        for name, s in fleet.slots.items()
    }
    if not judge(outcome) and not args.keep_topics:
        delete_topics(bootstrap, app_id, names)
    return outcome


def wait_for_lag_zero(probe: LagProbe, deadline: float) -> float | None:
    """Monotonic time when the group's lag is first 0, or None if not by ``deadline``."""

    def zero_or_late() -> float | str:
        if probe.lag() == 0:
            return time.monotonic()
        return "late" if time.monotonic() >= deadline else 0.0

    try:
        reached = wait_until(
            zero_or_late, max(0.0, deadline - time.monotonic()) + 60, 0.5, what="lag 0"
        )
        return reached if isinstance(reached, float) else None
    finally:
        probe.close()


def _flush(bootstrap: str, topic: str, partitions: int, start: float) -> None:
    for partition in range(partitions):
        produce(bootstrap, topic, [flow.flush_record(start)], partition=partition)


def check_outputs(
    bootstrap: str, params: dict, total: int, start: float, partitions: int
) -> dict[str, list[str]]:
    windows = read_committed_all(bootstrap, params["windows"], timeout=120)
    counts = read_committed_all(bootstrap, params["counts"], timeout=120)
    alerts = read_committed_all(bootstrap, params["alerts"], timeout=120)
    return {
        "windows": flow.window_problems(windows, total, start),
        "counts": flow.count_problems(counts, total, partitions),
        "alerts": flow.alert_problems(alerts, total),
    }


def delete_topics(bootstrap: str, app_id: str, names: list[str]) -> None:
    """The run's topics and the application's internal ones (changelogs, repartition)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **logging_settings()})
    known = admin.list_topics(timeout=10).topics
    doomed = [t for t in known if t in names or t.startswith(f"{app_id}-")]
    if not doomed:
        return
    for future in admin.delete_topics(doomed, operation_timeout=30).values():
        try:
            future.result()
        except Exception as exc:
            print(f"could not delete a topic: {exc}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bootstrap = os.environ.get("KSTREAMY_BOOTSTRAP")
    if not bootstrap:
        print(
            "error: set KSTREAMY_BOOTSTRAP=host:port to an Apache Kafka broker; the soak does "
            "not run on the embedded broker, which shows records of aborted transactions to "
            "read_committed readers",
            file=sys.stderr,
        )
        return 2
    outcome = run(args, bootstrap)
    print()
    print(summary(outcome))
    if args.report:
        report = {**asdict(outcome), "missed": judge(outcome)}
        args.report.write_text(json.dumps(report, indent=1, default=str))
    return 1 if judge(outcome) else 0


if __name__ == "__main__":
    sys.exit(main())
