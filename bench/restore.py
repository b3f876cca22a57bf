"""Restore speed: replaying a 1,000,000-record changelog into a store, kstreamy vs a raw loop.

    python bench/restore.py [--events 1000000] [--bootstrap-servers host:port]

The changelog of store ``counts`` of application ``<app_id>`` is produced directly into the
compacted 1-partition topic ``<app_id>-counts-changelog``: distinct keys ``key-0000000`` ... and
50-byte values (changelog records are the raw key and value bytes the store holds; restoration
never deserializes them). An App whose topology owns that store (``group_by_key().count``) then
starts on an empty state directory and restores the whole changelog before its task runs; the
restore duration is the one the instance logs ("task 0_0: restored N records in Xs"), from the
moment the task is assigned to the end of the changelog. A watcher thread stops the App once
its status file shows the task running with every record restored.

The raw loop reads the same changelog from the beginning with a confluent-kafka consumer and
writes each consumed batch into a rocksdict ``Rdict`` as one ``WriteBatch`` (write-ahead log
off, as kstreamy's stores), until the end of the partition. It runs twice: with the fetch
settings kstreamy's restore consumer uses (the baseline of the ratio), and with librdkafka's
defaults, under which the consumer pauses fetching for ``fetch.queue.backoff.ms`` (1 s) every
time its prefetch queue holds ``queued.min.messages`` (100,000), which caps any fast reader at
about 100,000-130,000 records/s. Target: kstreamy >= 300,000 records/s.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from pathlib import Path

from common import arguments, broker
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from kstreamy import App
from kstreamy.runtime.restore import FETCH_DEFAULTS
from kstreamy.runtime.status_file import read_status, status_path
from kstreamy.testing.topics import create_topics, produce

STORE = "counts"
TARGET = 300_000
VALUE = b"v" * 50


def changelog_records(count: int) -> list[tuple[bytes, bytes]]:
    return [(b"key-%07d" % i, b"%07d" % i + VALUE[7:]) for i in range(count)]


def prepare(bootstrap: str, app_id: str, records: int) -> tuple[str, str]:
    """Create and fill the changelog of ``app_id``'s store, and an empty input topic."""
    changelog = f"{app_id}-{STORE}-changelog"
    source = f"{app_id}-in"
    create_topics(bootstrap, {changelog: 1}, {"cleanup.policy": "compact"})
    create_topics(bootstrap, {source: 1})
    started = time.monotonic()
    produce(bootstrap, changelog, changelog_records(records), partition=0)
    print(f"produced {records} changelog records in {time.monotonic() - started:.1f}s")
    return changelog, source


def run_raw(bootstrap: str, changelog: str, records: int, fetch_settings: dict[str, int]) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-restore-raw-") as state_dir:
        started = time.perf_counter()
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-restore-raw",  # never joined or committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                **fetch_settings,
            }
        )
        consumer.assign([TopicPartition(changelog, 0, OFFSET_BEGINNING)])
        db = Rdict(str(Path(state_dir) / STORE), Options(raw_mode=True))
        write_options = WriteOptions()
        write_options.disable_wal = True
        restored = 0
        at_end = False
        while not at_end:
            batch = WriteBatch(raw_mode=True)
            for message in consumer.consume(10000, 0.05):
                error = message.error()
                if error is None:
                    batch.put(message.key(), message.value())
                    restored += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end = True
            if not batch.is_empty():
                db.write(batch, write_options)
        db.flush(True)
        elapsed = time.perf_counter() - started
        db.close()
        consumer.close()
    assert restored == records, f"raw loop read {restored} of {records} records"
    return records / elapsed


class _RestoreLog(logging.Handler):
    """Keeps the instance's "task ...: restored N records in Xs" line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.restored: int | None = None
        self.seconds: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("task %s: restored %d records"):
            _, self.restored, self.seconds, _ = record.args  # type: ignore[misc]


def run_kstreamy(bootstrap: str, app_id: str, source: str, records: int) -> float:
    captured = _RestoreLog()
    restore_log = logging.getLogger("kstreamy.restore")
    restore_log.setLevel(logging.INFO)
    restore_log.addHandler(captured)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-restore-ks-") as state_dir:
            app = App(
                app_id,
                bootstrap_servers=bootstrap,
                session_timeout_ms=6000,
                max_poll_interval_ms=10000,
                state_dir=state_dir,
            )
            app.stream(source, key_serde="str", value_serde="str").group_by_key().count(store=STORE)
            status = status_path(app.config.app_state_dir)

            def watch() -> None:
                while True:
                    seen = read_status(status) or {}
                    running = seen.get("tasks", {}).get("0_0") == "running"
                    if running and seen.get("records_restored", 0) >= records:
                        app.stop()
                        return
                    time.sleep(0.05)

            threading.Thread(target=watch, daemon=True).start()
            app.run()
    finally:
        restore_log.removeHandler(captured)
    assert captured.restored == records and captured.seconds, "no complete restoration logged"
    return records / captured.seconds


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 1_000_000, rounds=3)
    logging.basicConfig(level=logging.WARNING)
    with broker(args.bootstrap_servers) as bootstrap:
        for _ in range(args.rounds):
            app_id = f"bench-restore-{uuid.uuid4().hex[:6]}"
            changelog, source = prepare(bootstrap, app_id, args.events)
            tuned = {**FETCH_DEFAULTS, "fetch.wait.max.ms": 10}
            raw = run_raw(bootstrap, changelog, args.events, tuned)
            raw_defaults = run_raw(bootstrap, changelog, args.events, {})
            ks = run_kstreamy(bootstrap, app_id, source, args.events)
            print(f"{'kstreamy restoration':<32} {ks:>12,.0f} records/s")
            print(f"{'raw loop, same fetch settings':<32} {raw:>12,.0f} records/s")
            print(f"{'raw loop, librdkafka defaults':<32} {raw_defaults:>12,.0f} records/s")
            verdict = "meets" if ks >= TARGET else "BELOW"
            print(f"ratio {ks / raw:.1%} of the raw loop; {verdict} the target of {TARGET:,}/s")


if __name__ == "__main__":
    main()
