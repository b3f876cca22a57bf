"""The two processes bench/memory.py measures, configured by environment variables.

    kstreamy run memory_app:build      # kstreamy: count per key in a RocksDB store
    python bench/memory_app.py         # raw confluent-kafka loop: count per key in a dict

Both read ``BENCH_SOURCE`` on ``BENCH_BOOTSTRAP`` as consumer group ``BENCH_APP_ID``, keep their
state and progress under ``BENCH_STATE_DIR`` and commit input offsets every 5 s. The raw loop
writes ``{"records_processed": n}`` to ``<BENCH_STATE_DIR>/raw-status.json`` every second.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException

from kstreamy import App
from kstreamy.windows import Tumbling

COMMIT_INTERVAL_S = 5.0
RAW_STATUS = "raw-status.json"


def build() -> App:
    app = App(
        os.environ["BENCH_APP_ID"],
        bootstrap_servers=os.environ["BENCH_BOOTSTRAP"],
        state_dir=os.environ["BENCH_STATE_DIR"],
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
    )
    app.stream(os.environ["BENCH_SOURCE"], key_serde="str", value_serde="str").group_by_key().count(
        store="per-key"
    )
    return app


def build_windowed() -> App:
    """Count per key and one-hour window: with distinct keys, one open window per record."""
    app = App(
        os.environ["BENCH_APP_ID"],
        bootstrap_servers=os.environ["BENCH_BOOTSTRAP"],
        state_dir=os.environ["BENCH_STATE_DIR"],
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
    )
    (
        app.stream(os.environ["BENCH_SOURCE"], key_serde="str", value_serde="str")
        .group_by_key()
        .window(Tumbling(3600.0))
        .count(store="per-key-window")
    )
    return app


def run_raw(windowed: bool = False) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": os.environ["BENCH_BOOTSTRAP"],
            "group.id": os.environ["BENCH_APP_ID"],
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 10000,
            # As kstreamy's consumer (and bench/common.py's raw loops): with librdkafka's 1 s
            # default the loop waits for fetches and its records/s would not be comparable.
            "fetch.queue.backoff.ms": 10,
        }
    )
    consumer.subscribe([os.environ["BENCH_SOURCE"]])
    status = Path(os.environ["BENCH_STATE_DIR"]) / RAW_STATUS
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    counts: dict[bytes | tuple[bytes, int], int] = {}
    processed = 0
    next_commit = next_status = time.monotonic()
    while not stopping:
        for message in consumer.consume(2000, 0.1):
            if message.error() is None:
                key = message.key()
                if windowed:
                    ts = message.timestamp()[1]
                    key = (key, ts - ts % 3_600_000)
                counts[key] = counts.get(key, 0) + 1
                processed += 1
        now = time.monotonic()
        if now >= next_commit:
            with contextlib.suppress(KafkaException):  # raised when there is nothing new
                consumer.commit(asynchronous=False)
            next_commit = now + COMMIT_INTERVAL_S
        if now >= next_status:
            tmp = status.with_suffix(".tmp")
            tmp.write_text(json.dumps({"records_processed": processed}))
            tmp.replace(status)
            next_status = now + 1.0
    consumer.close()


if __name__ == "__main__":
    run_raw(windowed="--windowed" in sys.argv)
