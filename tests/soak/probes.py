"""What the soak measures: a process's resources from /proc, a state directory's size, and the
application's lag as the broker sees it.

Lag is what the group has committed against what it could read: per partition of the input and
of the repartition topic, the data records a ``read_committed`` reader finds after the committed
offset. Offsets alone do not say it: a transactional topic has a commit marker after each
transaction's records, so its end offset stays one or more past the last record consumed; and
every upstream task writes a watermark control record (no key, no value, a header) into each
repartition partition every second even when no input flows, so only records with a key or a
value count.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from kstreamy.kafka.clients import logging_settings

EXACT_UP_TO = 5000
"""Lag at or below this per partition is counted record by record; above it, the offset
difference stands in (the run is far from caught up either way)."""


@dataclass(frozen=True)
class ProcessSample:
    rss_mb: float
    fds: int
    threads: int
    store_fds: int = 0
    """Of ``fds``, the files open under the state directory: RocksDB's SST, log and manifest
    files, as many as the stores' data and compaction make (they grow with the data, like the
    store size, and are not a leak)."""


def process_sample(pid: int, state_dir: Path | None = None) -> ProcessSample | None:
    """RSS, open file descriptors (and how many are files under ``state_dir``) and threads of
    ``pid``; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fd_dir = f"/proc/{pid}/fd"
        links = []
        for fd in os.listdir(fd_dir):
            try:
                links.append(os.readlink(f"{fd_dir}/{fd}"))
            except FileNotFoundError:  # closed while listed
                continue
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fds = len(links)
    root = str(state_dir.resolve()) + os.sep if state_dir is not None else None
    store_fds = sum(1 for link in links if root and link.startswith(root))
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # a zombie: exited, not yet reaped
        return None
    rss_kb = int(fields["VmRSS"].split()[0])
    return ProcessSample(rss_kb / 1024, fds, int(fields["Threads"]), store_fds)


def directory_mb(path: Path) -> float:
    """Bytes under ``path`` in MB; files that vanish while it counts (compaction) are skipped."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total / 2**20


def rocksdb_log_mb(path: Path) -> float:
    """MB of RocksDB's own info logs (``LOG``, ``LOG.old.*``) under ``path``: they are not
    state, and they get lines at every flush and compaction (rolled, a few MB per store)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            if name == "LOG" or name.startswith("LOG.old"):
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except FileNotFoundError:
                    continue
    return total / 2**20


class LagProbe:
    """Committed-but-unprocessed records of a consumer group, over the topics it reads."""

    def __init__(self, bootstrap: str, group: str, topics: dict[str, int]) -> None:
        self.group = group
        self.last_error: str | None = None
        self.topics = topics
        """Topic -> partition count."""
        client = {"bootstrap.servers": bootstrap, **logging_settings()}
        self.admin = AdminClient(client)
        self.reader = Consumer(
            {
                **client,
                "group.id": f"{group}-soak-lag",  # never joined or committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
            }
        )

    def close(self) -> None:
        self.reader.close()

    def lag(self) -> int | None:
        """Total lag over every partition; None when it could not be measured (the reason is
        kept in ``last_error`` and printed by the runner)."""
        try:
            lag = sum(self.per_partition().values())
        except Exception as exc:  # a probe that fails must not end the soak
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        self.last_error = None
        return lag

    def per_partition(self) -> dict[tuple[str, int], int]:
        wanted = [TopicPartition(t, p) for t, count in self.topics.items() for p in range(count)]
        future = self.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(self.group, wanted)]
        )
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in future[self.group].result(timeout=10).topic_partitions
        }
        lags = {}
        behind = []
        for (topic, partition), offset in committed.items():
            low, high = self.reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            start = offset if offset >= 0 else low  # nothing committed yet: from the start
            if high - start > EXACT_UP_TO:
                lags[(topic, partition)] = high - start
            elif high > start:
                behind.append(TopicPartition(topic, partition, start))
            else:
                lags[(topic, partition)] = 0
        lags.update(self._count_after(behind))
        return lags

    def _count_after(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        """Data records a read_committed reader finds from each given offset to the partition's
        end (transaction markers, aborted records and watermark controls are not counted)."""
        counts = {(tp.topic, tp.partition): 0 for tp in partitions}
        if not partitions:
            return counts
        self.reader.assign(partitions)
        at_end: set[tuple[str, int]] = set()
        deadline = time.monotonic() + 10.0
        try:
            while len(at_end) < len(partitions):
                if time.monotonic() > deadline:
                    raise TimeoutError("partition ends not reached within 10 s")
                # consume() waits its whole timeout unless the batch fills: keep it short.
                for m in self.reader.consume(1000, 0.1):
                    where = (m.topic(), m.partition())
                    error = m.error()
                    if error is None:
                        if m.key() is not None or m.value() is not None:
                            counts[where] += 1
                    elif error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(where)
        finally:
            self.reader.unassign()
        return counts
