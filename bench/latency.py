"""End-to-end latency at a fixed input rate: kstreamy instances vs a raw confluent-kafka loop.

    python bench/latency.py [--max-rate 312000] [--rates 31200,156000] [--seconds 15]
                            [--jobs stateless,count,window]
                            [--guarantees at_least_once,exactly_once]
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

Jobs: ``stateless`` (map+filter, 5% of the records filtered out), ``count`` (a keyed count in
a changelog-backed store, one update written per record) and ``window`` (a count per key in 1 s
tumbling windows, emitted when final; its figure is the delay from the watermark passing a
window's end to the window's result being visible, see bench/latency_window.py). Rates default
to 10%, 50% and 90% of the pipeline's maximum: kstreamy's records/s for that job and guarantee
on this machine, measured first (300,000 records sent as fast as the generator can; the window
job takes the count's figure), or ``--max-rate`` for every job. At the higher rates the load
generator, the pipeline, the reader and the broker share the machine's cores: the achieved rate
is printed next to the target.

``--set key=value`` passes a kstreamy setting (JSON value, or text) to both sides, e.g.
``--set latency_profile=throughput``; the raw loop takes its client settings from the same
config. Defaults: the embedded broker (or ``KSTREAMY_BOOTSTRAP``), 15 s per point.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import dataclasses
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
from latency_app import WINDOW_MS
from latency_window import WindowReader

BENCH = Path(__file__).resolve().parent
DROP_EVERY = 20  # map+filter drops every 20th record
MAX_PROBE_RECORDS = 300_000


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KSTREAMY_BOOTSTRAP"),
        help="an external broker (default: start the embedded one)",
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        help="records/s taken as 100%% load (default: measured per job and guarantee)",
    )
    parser.add_argument("--rates", help="comma-separated records/s (default 10/50/90%% of max)")
    parser.add_argument("--seconds", type=float, default=15.0, help="sending time per point")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds left out first")
    parser.add_argument("--jobs", default="stateless,count,window")
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
    result.put({"sent": i, "start": start, "seconds": elapsed, "errors": errors + remaining})


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
        self.last_seen = 0.0
        """When the latest output was seen (time.time())."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        consume, loads, clock = self.consumer.consume, orjson.loads, time.time
        seen, latency, capacity = self.seen, self.latency, len(self.seen)
        poll = self.consumer.poll
        while not self._stop.is_set():
            # poll returns with the first record; consume(n, 0) takes what else is there
            # (consume with a timeout would wait for a full batch).
            first = poll(0.05)
            if first is None:
                continue
            messages = [first, *consume(10000, 0)]
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
                self.last_seen = now
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


def wait_for_outputs(reader: Reader, expected: list[int], deadline: float) -> None:
    """Until every expected record's output came (or the deadline); the last ones first, so the
    full check runs once they are in."""
    while time.monotonic() < deadline and not all(reader.seen[i] for i in expected[-100:]):
        time.sleep(0.1)
    while time.monotonic() < deadline and sum(reader.seen[i] for i in expected) < len(expected):
        time.sleep(0.2)


def wait_for_windows(reader: WindowReader, sent: int, deadline: float) -> None:
    """Until every window closed by the input has a result (or the deadline): first until the
    reader has read all the input, then until as many results as closed windows came."""
    while time.monotonic() < deadline and sum(map(len, reader.timestamps.values())) < sent:
        time.sleep(0.1)
    due = len(reader.input_counts())
    while time.monotonic() < deadline and len(reader.results) < due:
        time.sleep(0.1)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclasses.dataclass
class Running:
    """A pipeline process that answered its probes, with the reader of its output."""

    source: str
    reader: Reader | WindowReader
    process: subprocess.Popen
    log: Path


@contextlib.contextmanager
def running(args, bootstrap: str, side: str, job: str, guarantee: str, capacity: int):
    """Fresh topics, a reader, and the pipeline as its own process, stopped on the way out."""
    source = new_topic(bootstrap, "latency-in")
    sink = new_topic(bootstrap, "latency-out")
    reader: Reader | WindowReader = (
        WindowReader(bootstrap, source, sink, WINDOW_MS)
        if job == "window"
        else Reader(bootstrap, sink, capacity)
    )
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
    try:
        wait_ready(bootstrap, source, reader, process, log)
        yield Running(source, reader, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        reader.stop()


def send(bootstrap: str, source: str, rate: float, seconds: float) -> dict:
    """Run the load generator in its own process; what it reports when done."""
    context = multiprocessing.get_context("spawn")
    result: multiprocessing.Queue = context.Queue()
    generator = context.Process(target=generate, args=(bootstrap, source, rate, seconds, result))
    generator.start()
    sent = result.get(timeout=seconds + 120)
    generator.join()
    return sent


def expected_ids(job: str, sent: int) -> list[int]:
    return [i for i in range(sent) if job == "count" or i % DROP_EVERY != 0]


def measure_max(args, bootstrap: str, job: str, guarantee: str) -> float:
    """kstreamy's records/s on this machine for ``job``: ``MAX_PROBE_RECORDS`` sent as fast as
    the generator can, divided by the time until the last output was visible. The window job
    is measured as the count (the same keyed store update per record; its outputs come only
    when windows close, so its drain cannot be seen as precisely)."""
    job = "count" if job == "window" else job
    with running(args, bootstrap, "kstreamy", job, guarantee, MAX_PROBE_RECORDS + 1) as pipe:
        sent = send(bootstrap, pipe.source, 1e9, MAX_PROBE_RECORDS / 1e9)
        assert isinstance(pipe.reader, Reader)
        expected = expected_ids(job, sent["sent"])
        wait_for_outputs(pipe.reader, expected, time.monotonic() + 120)
        missing = sum(1 for i in expected if not pipe.reader.seen[i])
        if missing or sent["errors"]:
            raise RuntimeError(f"maximum not measured: {missing} outputs missing: {tail(pipe.log)}")
        return sent["sent"] / (pipe.reader.last_seen - sent["start"])


def run_point(args, bootstrap: str, side: str, job: str, guarantee: str, rate: float) -> dict:
    capacity = int(rate * args.seconds) + 1
    problems: list[str] = []
    sent: dict = {"sent": 0, "start": 0.0, "seconds": 1, "errors": 0}
    expected: list[int] = []
    reader: Reader | WindowReader | None = None
    try:
        with running(args, bootstrap, side, job, guarantee, capacity) as pipe:
            reader = pipe.reader
            sent = send(bootstrap, pipe.source, rate, args.seconds)
            deadline = time.monotonic() + 30
            if isinstance(reader, WindowReader):
                wait_for_windows(reader, sent["sent"], deadline)
            else:
                expected = expected_ids(job, sent["sent"])
                wait_for_outputs(reader, expected, deadline)
            if pipe.process.poll() is not None:
                problems.append(f"pipeline exited with {pipe.process.returncode}: {tail(pipe.log)}")
    except Exception as exc:
        problems.append(str(exc))
    values: list[float] = []
    if isinstance(reader, WindowReader):
        values, wrong = reader.delays(after_ms=int((sent["start"] + args.warmup) * 1000))
        problems += wrong
    elif isinstance(reader, Reader):
        lost = sum(1 for i in expected if not reader.seen[i])
        if lost:
            problems.append(f"{lost} of {len(expected)} records lost (no output seen)")
        warm = int(args.warmup * rate)
        values = sorted(reader.latency[i] * 1000 for i in expected if i >= warm)
    if sent["errors"]:
        problems.append(f"{sent['errors']} input records not delivered")
    if reader is not None and reader.errors:
        problems.append(f"reader errors: {reader.errors[:3]}")
    if not problems and not values:
        problems.append("no figures: nothing measured after the warm-up")
    point = {
        "side": side,
        "job": job,
        "guarantee": guarantee,
        "target_rate": rate,
        "achieved_rate": sent["sent"] / sent["seconds"],
        "problems": problems,
    }
    if not problems:
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
    header = "job       guarantee     side        target    achieved"
    points = []
    with broker(args.bootstrap) as bootstrap:
        print(f"broker {bootstrap}; settings {args.settings or 'defaults'}", flush=True)
        for job in args.jobs.split(","):
            for guarantee in args.guarantees.split(","):
                maximum = args.max_rate or measure_max(args, bootstrap, job, guarantee)
                print(f"{job} {guarantee}: maximum {maximum:,.0f} records/s", flush=True)
                if args.rates:
                    rates = [float(r) for r in args.rates.split(",")]
                else:
                    rates = [round(maximum * f) for f in (0.1, 0.5, 0.9)]
                print(header, flush=True)
                for rate in rates:
                    for side in args.sides.split(","):
                        point = run_point(args, bootstrap, side, job, guarantee, rate)
                        point["max_rate"] = maximum
                        show(point)
                        points.append(point)
    if args.json:
        Path(args.json).write_text(json.dumps(points, indent=1))
    print("\n| job | guarantee | load | side | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in points:
        load = f"{p['target_rate'] / p['max_rate']:.0%}"
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
