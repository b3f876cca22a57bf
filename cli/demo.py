"""``kstreamy demo``: the sample application end to end, on real instance processes."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter

import typer

from kstreamy.errors import KStreamyError
from kstreamy.testing.topics import create_topics, produce, read_topic
from kstreamy_cli import demo_app

PARTITIONS = 4
BAD_RECORDS = 5


def _say(text: str) -> None:
    typer.echo(text)
    sys.stdout.flush()


def _sample_events(count: int) -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    events: list[tuple[str, bytes]] = []
    for i in range(count):
        sensor = f"sensor-{rng.randrange(50):02d}"
        celsius = None if rng.random() < 0.03 else round(rng.gauss(25, 12), 1)
        events.append(
            (sensor, json.dumps({"sensor": sensor, "celsius": celsius, "seq": i}).encode())
        )
    for i in range(BAD_RECORDS):
        position = rng.randrange(len(events))
        events.insert(position, (f"sensor-bad-{i}", b"{not json"))
    return events


def _expected(events: list[tuple[str, bytes]]) -> Counter[str]:
    expected: Counter[str] = Counter()
    for key, raw in events:
        try:
            reading = json.loads(raw)
        except ValueError:
            expected["dead-letter"] += 1
            continue
        if not demo_app.is_valid(key, reading):
            expected["dropped"] += 1
            continue
        reading = demo_app.to_fahrenheit(reading)
        expected["alerts" if demo_app.is_alert(key, reading) else "clean"] += 1
    return expected


def run_demo(events: int, instances: int, bootstrap_servers: str | None) -> None:
    from kstreamy.testing.broker import EmbeddedBroker

    broker = None
    if bootstrap_servers is None:
        _say("starting the embedded broker ...")
        broker = EmbeddedBroker()
        bootstrap_servers = broker.start()
    _say(f"broker: {bootstrap_servers}")
    suffix = f"-{uuid.uuid4().hex[:6]}"
    names = demo_app.topics(suffix)
    processes: list[subprocess.Popen[bytes]] = []
    state_dirs: list[str] = []
    try:
        create_topics(bootstrap_servers, {t: PARTITIONS for t in names.values()})
        sample = _sample_events(events)
        expected = _expected(sample)
        _say(f"producing {len(sample)} readings to {names['readings']} ({PARTITIONS} partitions)")
        produce(bootstrap_servers, names["readings"], ((k.encode(), v) for k, v in sample))

        env = {**os.environ, "KSTREAMY_DEMO_SUFFIX": suffix, "KSTREAMY_LOG_LEVEL": "ERROR"}
        command = [
            sys.executable,
            "-m",
            "kstreamy_cli",
            "run",
            "kstreamy_cli.demo_app:build_app",
            "--bootstrap-servers",
            bootstrap_servers,
        ]
        for _ in range(instances):
            # Every instance has a state directory of its own, as on separate machines.
            state_dir = tempfile.mkdtemp(prefix="kstreamy-demo-")
            state_dirs.append(state_dir)
            processes.append(subprocess.Popen([*command, "--state-dir", state_dir], env=env))
        _say(f"started {instances} instance processes: pids {[p.pid for p in processes]}")

        got = _read_outputs(bootstrap_servers, names, expected, processes)
        dead = _count_dead_letters(bootstrap_servers, f"kstreamy-demo{suffix}-dlq")
        _say("")
        _say("results                 expected   read back")
        for label, count in (("clean readings", got["clean"]), ("alerts (> 100 F)", got["alerts"])):
            key = "clean" if label.startswith("clean") else "alerts"
            _say(f"  {label:<20} {expected[key]:>9}   {count:>9}")
        _say(f"  {'dead-lettered':<20} {expected['dead-letter']:>9}   {dead:>9}")
        _say(f"  {'dropped (no value)':<20} {expected['dropped']:>9}")
        ok = got["clean"] >= expected["clean"] and got["alerts"] >= expected["alerts"]
        _say("demo " + ("succeeded" if ok and dead == expected["dead-letter"] else "FAILED"))
        if not ok:
            raise KStreamyError("the demo did not read back every expected output record")
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for state_dir in state_dirs:
            shutil.rmtree(state_dir, ignore_errors=True)
        if broker is not None:
            broker.stop()
            _say("embedded broker stopped")


def _read_outputs(
    bootstrap: str,
    names: dict[str, str],
    expected: Counter[str],
    processes: list[subprocess.Popen[bytes]],
    timeout: float = 120.0,
) -> Counter[str]:
    got: Counter[str] = Counter()
    want = {"clean": expected["clean"], "alerts": expected["alerts"]}
    deadline = time.monotonic() + timeout
    sample_alert = None
    for label in ("alerts", "clean"):
        last_report = time.monotonic()

        def done(records: list, label: str = label) -> bool:
            nonlocal last_report
            if time.monotonic() - last_report > 2:
                _say(f"  {label}: read back {len(records)} of {want[label]}")
                last_report = time.monotonic()
            if any(p.poll() is not None for p in processes):
                raise KStreamyError("an instance process exited early; see its output above")
            return len(records) >= want[label]

        records = read_topic(
            bootstrap, names[label], done, timeout=max(1.0, deadline - time.monotonic())
        )
        got[label] = len(records)
        if label == "alerts" and records:
            sample_alert = records[0].value().decode()
        _say(f"  {label}: read back {got[label]} of {want[label]}")
    if sample_alert:
        _say(f"a sample alert: {sample_alert}")
    return got


def _count_dead_letters(bootstrap: str, topic: str, timeout: float = 15.0) -> int:
    records = read_topic(bootstrap, topic, lambda r: len(r) >= BAD_RECORDS, timeout=timeout)
    if records:
        headers = dict(records[0].headers() or [])
        _say(
            "a dead-lettered record: "
            f"{records[0].value()!r} from {headers['kstreamy.error.topic'].decode()}"
            f"[{headers['kstreamy.error.partition'].decode()}]"
            f"@{headers['kstreamy.error.offset'].decode()}: "
            f"{headers['kstreamy.error.message'].decode()}"
        )
    return len(records)
