"""The pipelines bench/latency.py measures, configured by environment variables.

    kstreamy run latency_app:build_stateless   # map+filter
    kstreamy run latency_app:build_count       # a keyed count
    python bench/latency_app.py stateless      # the same, as a raw confluent-kafka loop
    python bench/latency_app.py count
    kstreamy run latency_app:build_window      # a 1 s tumbling count per key, emitted when final
    python bench/latency_app.py window

Every input value is JSON ``{"id": n, "sent": unix time, "drop": bool}``. Map+filter drops the
records marked ``drop`` and adds a field; the count keeps a count per key and writes, for every
record, ``{"n": count, "id": n, "sent": ...}`` (the id and send time of the record that updated
it), so each output tells the reader which input it answers and when that was sent. The window
job counts records per key in 1 s tumbling windows of the record timestamp (no out-of-orderness
allowance, no grace) and writes each window's count once, when the partition's watermark passes
the window's end, keyed ``{"key", "start_ms", "end_ms", ...}`` (kstreamy's ``windowed-json``).

Both sides read ``BENCH_SOURCE`` on ``BENCH_BOOTSTRAP`` as consumer group ``BENCH_APP_ID`` and
write ``BENCH_SINK`` under ``BENCH_GUARANTEE``. The raw loop builds its clients from the same
settings kstreamy derives from the same application config (``BENCH_SETTINGS``, a JSON object of
kstreamy settings given to both), so the two differ only in the loop.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Producer

from kstreamy import App
from kstreamy.config import AppConfig
from kstreamy.kafka.clients import consumer_settings, producer_settings
from kstreamy.windows import Tumbling


def _settings() -> dict:
    return {
        "bootstrap_servers": os.environ["BENCH_BOOTSTRAP"],
        "processing_guarantee": os.environ.get("BENCH_GUARANTEE", "at_least_once"),
        "state_dir": os.environ["BENCH_STATE_DIR"],
        "session_timeout_ms": 6000,
        "max_poll_interval_ms": 10000,
        **json.loads(os.environ.get("BENCH_SETTINGS") or "{}"),
    }


def keep(key, event) -> bool:
    return not event["drop"]


def enrich(event):
    return {**event, "seen": True}


def count_update(key, event, acc):
    return {
        "n": acc["n"] + 1,
        "id": event.get("id"),
        "sent": event.get("sent"),
        "probe": event.get("probe"),
    }


def build_stateless() -> App:
    app = App(os.environ["BENCH_APP_ID"], **_settings())
    app.stream(os.environ["BENCH_SOURCE"], value_serde="json").filter(keep).map_values(enrich).to(
        os.environ["BENCH_SINK"]
    )
    return app


def build_count() -> App:
    app = App(os.environ["BENCH_APP_ID"], **_settings())
    (
        app.stream(os.environ["BENCH_SOURCE"], key_serde="str", value_serde="json")
        .group_by_key()
        .aggregate(lambda: {"n": 0}, count_update, store="latency-count")
        .to(os.environ["BENCH_SINK"], value_serde="json")
    )
    return app


WINDOW_MS = 1000


def build_window() -> App:
    app = App(os.environ["BENCH_APP_ID"], **_settings())
    (
        app.stream(os.environ["BENCH_SOURCE"], key_serde="str", value_serde="json")
        .group_by_key()
        .window(Tumbling(WINDOW_MS / 1000))
        .count(store="latency-window")
        .emit_final()
        .to(os.environ["BENCH_SINK"], key_serde="windowed-json", value_serde="json")
    )
    return app


class RawWindows:
    """The window job by hand: per partition, the watermark (largest timestamp seen) and the
    open windows' counts; a window is written once the watermark reaches its end."""

    def __init__(self) -> None:
        self.watermark: dict[int, int] = {}
        self.open: dict[int, dict[int, dict[bytes, int]]] = {}
        """partition -> window start (ms) -> key -> count"""

    def add(self, partition: int, key: bytes, timestamp: int) -> list[tuple[bytes, bytes]]:
        watermark = self.watermark.get(partition, -1)
        start = timestamp - timestamp % WINDOW_MS
        windows = self.open.setdefault(partition, {})
        if start + WINDOW_MS > watermark:  # else late: its window was written already
            counts = windows.setdefault(start, {})
            counts[key] = counts.get(key, 0) + 1
        if timestamp <= watermark:
            return []
        self.watermark[partition] = timestamp
        closed = [s for s in windows if s + WINDOW_MS <= timestamp]
        out = []
        for s in sorted(closed):
            for k, n in windows.pop(s).items():
                window = {"key": k.decode(), "start_ms": s, "end_ms": s + WINDOW_MS}
                out.append((orjson.dumps(window), b"%d" % n))
        return out


def run_raw(job: str) -> None:
    """consume -> map/filter (or count in a dict) -> produce, committing like kstreamy: flush
    and commit every commit interval at least once, one transaction per interval exactly once.
    When its input is drained it waits for the next record, not for a full batch."""
    config = AppConfig.build(os.environ["BENCH_APP_ID"], **_settings())
    transactional = config.processing_guarantee == "exactly_once"
    producer_config = producer_settings(config)
    producer_config.pop("logger", None)
    consumer_config = consumer_settings(config)
    consumer_config.pop("logger", None)
    if transactional:
        producer_config["transactional.id"] = f"{config.application_id}-raw"
    producer = Producer(producer_config)
    consumer = Consumer(consumer_config)
    if transactional:
        producer.init_transactions()
    consumer.subscribe([os.environ["BENCH_SOURCE"]])
    sink = os.environ["BENCH_SINK"]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    loads, dumps = orjson.loads, orjson.dumps

    def produce(topic: str, value: bytes, key: bytes, timestamp: int) -> None:
        while True:
            try:
                producer.produce(topic, value, key, timestamp=timestamp)
                return
            except BufferError:  # local queue full: serve delivery reports until there is room
                producer.poll(0.05)

    counts: dict[bytes, int] = {}
    windows = RawWindows()
    # (kstreamy releases before latency_profile had a plain poll_batch_size)
    batch = getattr(config, "effective_poll_batch_size", None) or config.poll_batch_size
    timeout = config.poll_timeout_ms / 1000
    interval = config.effective_commit_interval_ms / 1000
    next_commit = time.monotonic() + interval
    in_transaction = False
    while not stopping:
        messages = consumer.consume(batch, 0)
        if not messages:
            messages = consumer.consume(1, timeout)
        if transactional and messages and not in_transaction:
            producer.begin_transaction()
            in_transaction = True
        for message in messages:
            if message.error() is not None:
                continue
            key, event = message.key(), loads(message.value())
            if job == "count":
                n = counts[key] = counts.get(key, 0) + 1
                out = {
                    "n": n,
                    "id": event.get("id"),
                    "sent": event.get("sent"),
                    "probe": event.get("probe"),
                }
                produce(sink, dumps(out), key, timestamp=message.timestamp()[1])
            elif job == "window":
                timestamp = message.timestamp()[1]
                for window, n in windows.add(message.partition(), key, timestamp):
                    produce(sink, n, window, timestamp=timestamp)
            elif keep(key, event):
                produce(sink, dumps(enrich(event)), key, timestamp=message.timestamp()[1])
        producer.poll(0)
        if time.monotonic() >= next_commit:
            if in_transaction:
                positions = consumer.position(consumer.assignment())
                producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata())
                producer.commit_transaction()
                in_transaction = False
            elif not transactional:
                producer.flush()
                assignment = consumer.assignment()
                if assignment:
                    positions = [tp for tp in consumer.position(assignment) if tp.offset >= 0]
                    if positions:
                        consumer.commit(offsets=positions, asynchronous=False)
            next_commit = time.monotonic() + interval
    if in_transaction:
        producer.commit_transaction()
    producer.flush()
    consumer.close()


if __name__ == "__main__":
    run_raw(sys.argv[1])
