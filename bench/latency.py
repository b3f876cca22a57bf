"""End-to-end latency at a fixed input rate: kstreamy instances vs a raw confluent-kafka loop.

    python bench/latency.py [--max-rate 312000] [--rates 31200,156000] [--seconds 15]
                            [--jobs stateless,count] [--guarantees at_least_once,exactly_once]
                            [--sides kstreamy,raw] [--bootstrap host:port] [--set key=value]...

For every job, guarantee and rate: a 4-partition input topic and an output topic are created,
the pipeline starts as its own OS process (``python -m kstreamy_cli run latency_app:build_*``, or
the raw loop ``python bench/latency_app.py``, see bench/latency_app.py), and once it answers a
probe record on every input partition, a load generator process sends records open-loop at the
rate (record i is due at start + i/rate, whether or not the pipeline keeps up), each carrying
its send time (``time.time()`` when handed to the producer client). A ``read_committed``
consumer in this process notes when each output becomes visible; latency = receive time - send
time. The first ``--warmup`` seconds are left out. After sending stops the reader waits for the
outputs of every record sent; a point with a lost record, a delivery error or a pipeline that
died reports no figures and makes the run exit non-zero.

Jobs: ``stateless`` (map+filter, 5% of the records filtered out) and ``count`` (a keyed count in
a changelog-backed store, one update written per record). Rates default to 10%, 50% and 90% of
``--max-rate``, whose default, 312,000 records/s, is what bench/stateless.py measured for
kstreamy at least once on the embedded broker on the 2-core development machine. At the higher
rates the load generator, the pipeline, the reader and the broker share those 2 cores: the
achieved rate is printed next to the target.

``--set key=value`` passes a kstreamy setting (JSON value, or text) to both sides, e.g.
``--set latency_profile=throughput``; the raw loop takes its client settings from the same
config. Defaults: the embedded broker (or ``KSTREAMY_BOOTSTRAP``), 15 s per point.
"""

from __future__ import annotations

import argparse
import array
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from common import PARTITIONS, broker, new_topic
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

BENCH = Path(__file__).resolve().parent
DEFAULT_MAX_RATE = 312_000
DROP_EVERY = 20  # map+filter drops every 20th record


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KSTREAMY_BOOTSTRAP"),
        help="an external broker (default: start the embedded one)",
    )
    parser.add_argument("--max-rate", type=float, default=DEFAULT_MAX_RATE)
    parser.add_argument("--rates", help="comma-separated records/s (default 10/50/90%% of max)")
    parser.add_argument("--seconds", type=float, default=15.0, help="sending time per point")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds left out first")
    parser.add_argument("--jobs", default="stateless,count")
    parser.add_argument("--guarantees", default="at_least_once,exactly_once")
    parser.add_argument("--sides", default="kstreamy,raw")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args()


# -- the load generator (its own process, so it does not share the reader's GIL) -------------


def generate(bootstrap: str, topic: str, rate: float, seconds: float, result) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 1,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    errors = 0

    def on_delivery(err, msg) -> None:
        nonlocal errors
        if err is not None:
            errors += 1

    total = int(rate * seconds)
    produce, clock, poll = producer.produce, time.time, producer.poll
    start = clock()
    i = 0
    while i < total:
        due = min(total, int((clock() - start) * rate) + 1)
        while i < due:
            value = b'{"id":%d,"sent":%.6f,"drop":%s}' % (
                i,
                clock(),
                b"true" if i % DROP_EVERY == 0 else b"false",
            )
            try:
                produce(topic, value, b"sensor-%d" % (i % 1000), on_delivery=on_delivery)
            except BufferError:
                poll(0.01)
                continue
            i += 1
        poll(0)
        wait = start + i / rate - clock()
        if wait > 0:
            time.sleep(min(wait, 0.001))
    elapsed = clock() - start
    remaining = producer.flush(30)
    result.put({"sent": i, "seconds": elapsed, "errors": errors + remaining})


# -- the reader -------------------------------------------------------------------------------


class Reader:
    """Reads the output topic read_committed from its beginning; keeps the first arrival of each
    record's output."""

    def __init__(self, bootstrap: str, topic: str, capacity: int) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"latency-reader-{uuid.uuid4().hex[:6]}",  # never joined
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
                "fetch.queue.backoff.ms": 1,
            }
        )
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
        )
        self.seen = bytearray(capacity)
        self.latency = array.array("d", bytes(8 * capacity))
        self.probes: set[int] = set()
        self.errors: list[str] = []
        self.outputs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        consume, loads, clock = self.consumer.consume, orjson.loads, time.time
        seen, latency, capacity = self.seen, self.latency, len(self.seen)
        while not self._stop.is_set():
            messages = consume(10000, 0)
            if not messages:
                time.sleep(0.0005)
                continue
            now = clock()
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        self.errors.append(error.str())
                    continue
                value = loads(message.value())
                self.outputs += 1
                probe = value.get("probe")
                if probe is not None:
                    self.probes.add(probe)
                    continue
                i = value["id"]
                if i < capacity and not seen[i]:
                    seen[i] = 1
                    latency[i] = now - value["sent"]
        self.consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- one point --------------------------------------------------------------------------------


def start_pipeline(side: str, job: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    if side == "kstreamy":
        command = [sys.executable, "-m", "kstreamy_cli", "run", f"latency_app:build_{job}"]
    else:
        command = [sys.executable, str(BENCH / "latency_app.py"), job]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, cwd=BENCH, stdout=out, stderr=out)


def wait_ready(bootstrap: str, source: str, reader: Reader, process, log: Path) -> None:
    """Send a probe to every input partition until each one's output came back."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    deadline = time.monotonic() + 120
    while len(reader.probes) < PARTITIONS:
        if process.poll() is not None:
            raise RuntimeError(f"pipeline exited with {process.returncode}: {tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"pipeline not ready within 120s: {tail(log)}")
        for p in range(PARTITIONS):
            if p not in reader.probes:
                value = orjson.dumps({"probe": p, "drop": False})
                producer.produce(source, value, b"probe-%d" % p, partition=p)
        producer.flush(10)
        time.sleep(0.2)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_point(args, bootstrap: str, side: str, job: str, guarantee: str, rate: float) -> dict:
    source = new_topic(bootstrap, "latency-in")
    sink = new_topic(bootstrap, "latency-out")
    capacity = int(rate * args.seconds) + 1
    reader = Reader(bootstrap, sink, capacity)
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    log = tmp / f"{side}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(BENCH.parent), str(BENCH)]),
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_SOURCE": source,
        "BENCH_SINK": sink,
        "BENCH_GUARANTEE": guarantee,
        "BENCH_APP_ID": f"bench-latency-{uuid.uuid4().hex[:6]}",
        "BENCH_STATE_DIR": str(tmp / "state"),
        "BENCH_SETTINGS": json.dumps(args.settings),
    }
    process = start_pipeline(side, job, env, log)
    problems: list[str] = []
    try:
        wait_ready(bootstrap, source, reader, process, log)
        result: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        generator = multiprocessing.get_context("spawn").Process(
            target=generate, args=(bootstrap, source, rate, args.seconds, result)
        )
        generator.start()
        sent = result.get(timeout=args.seconds + 120)
        generator.join()
        expected = [i for i in range(sent["sent"]) if job == "count" or i % DROP_EVERY != 0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(reader.seen[i] for i in expected[-100:]):
            time.sleep(0.1)
        while time.monotonic() < deadline and sum(reader.seen[i] for i in expected) < len(expected):
            time.sleep(0.2)
        if process.poll() is not None:
            problems.append(f"pipeline exited with {process.returncode}: {tail(log)}")
    except Exception as exc:
        problems.append(str(exc))
        sent, expected = {"sent": 0, "seconds": 1, "errors": 0}, []
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        reader.stop()
    lost = sum(1 for i in expected if not reader.seen[i])
    if lost:
        problems.append(f"{lost} of {len(expected)} records lost (no output seen)")
    if sent["errors"]:
        problems.append(f"{sent['errors']} input records not delivered")
    if reader.errors:
        problems.append(f"reader errors: {reader.errors[:3]}")
    point = {
        "side": side,
        "job": job,
        "guarantee": guarantee,
        "target_rate": rate,
        "achieved_rate": sent["sent"] / sent["seconds"],
        "problems": problems,
    }
    if not problems:
        warm = int(args.warmup * rate)
        values = sorted(reader.latency[i] * 1000 for i in expected if i >= warm)
        point.update(
            records=len(values),
            p50=percentile(values, 0.50),
            p99=percentile(values, 0.99),
            p999=percentile(values, 0.999),
            max=values[-1],
        )
    return point


def show(point: dict) -> None:
    head = (
        f"{point['job']:<9} {point['guarantee']:<13} {point['side']:<8} "
        f"{point['target_rate']:>9,.0f}/s {point['achieved_rate']:>9,.0f}/s"
    )
    if point["problems"]:
        print(f"{head}  FAILED: {'; '.join(point['problems'])[:1500]}", flush=True)
    else:
        print(
            f"{head}  p50 {point['p50']:7.1f}  p99 {point['p99']:7.1f}  "
            f"p99.9 {point['p999']:7.1f}  max {point['max']:7.1f} ms",
            flush=True,
        )


def parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return settings


def main() -> None:
    args = arguments()
    args.settings = parse_settings(args.set)
    if args.rates:
        rates = [float(r) for r in args.rates.split(",")]
    else:
        rates = [round(args.max_rate * f) for f in (0.1, 0.5, 0.9)]
    header = "job       guarantee     side        target    achieved"
    points = []
    with broker(args.bootstrap) as bootstrap:
        print(f"broker {bootstrap}; settings {args.settings or 'defaults'}", flush=True)
        print(header, flush=True)
        for job in args.jobs.split(","):
            for guarantee in args.guarantees.split(","):
                for rate in rates:
                    for side in args.sides.split(","):
                        point = run_point(args, bootstrap, side, job, guarantee, rate)
                        show(point)
                        points.append(point)
    if args.json:
        Path(args.json).write_text(json.dumps(points, indent=1))
    print("\n| job | guarantee | load | side | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in points:
        load = f"{p['target_rate'] / args.max_rate:.0%}"
        if p["problems"]:
            cells = "FAILED | | | "
        else:
            cells = f"{p['p50']:.0f} | {p['p99']:.0f} | {p['p999']:.0f} | {p['max']:.0f}"
        print(
            f"| {p['job']} | {p['guarantee']} | {load} | {p['side']} | "
            f"{p['achieved_rate']:,.0f} | {cells} |"
        )
    if any(p["problems"] for p in points):
        sys.exit("some points failed (see above); their figures are not reported")


if __name__ == "__main__":
    main()
