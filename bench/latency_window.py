"""The window job of bench/latency.py: how long a final window result takes to appear once the
watermark has passed the window's end.

The watermark of a partition passes a window's end with the first record of that partition
stamped at or after the end (the job allows no out-of-orderness and no grace). That record's
send time is when the result became due; the result's delay is the time a ``read_committed``
reader sees it minus that send time. So the reader reads the input too (every partition from
the beginning, in order), keeping each partition's timestamps and values, and which partition
each key is on.

A point is only reported if every closed window's count equals the number of input records in
it: a result lost, written twice or wrong makes it fail, as a lost record does for the other jobs.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import Counter

import orjson
from common import PARTITIONS
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def _consumer(bootstrap: str, topic: str, committed_only: bool) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"latency-window-reader-{time.monotonic_ns()}",  # never joined
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
            "fetch.wait.max.ms": 10,
            "fetch.queue.backoff.ms": 1,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer


class WindowReader:
    """Reads the results (read_committed) and the input; :meth:`delays` matches them."""

    def __init__(self, bootstrap: str, source: str, sink: str, window_ms: int) -> None:
        self.window_ms = window_ms
        self.results: list[tuple[str, int, int, float]] = []
        """(key, window start ms, count, time seen) per result."""
        self.probes: set[int] = set()
        self.errors: list[str] = []
        self.timestamps: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
        self.values: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
        self.keys: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
        self.partition_of: dict[str, int] = {}
        self._outputs = _consumer(bootstrap, sink, committed_only=True)
        self._inputs = _consumer(bootstrap, source, committed_only=False)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._read_results, daemon=True),
            threading.Thread(target=self._read_inputs, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _batches(self, consumer: Consumer):
        """Batches as they arrive: ``poll`` returns with the first record, ``consume(n, 0)``
        takes what else is there (``consume`` with a timeout would wait for a full batch)."""
        while not self._stop.is_set():
            first = consumer.poll(0.05)
            if first is None:
                continue
            batch = [first, *consumer.consume(10000, 0)]
            good = []
            for message in batch:
                error = message.error()
                if error is None:
                    good.append(message)
                elif error.code() != KafkaError._PARTITION_EOF:
                    self.errors.append(error.str())
            yield good
        consumer.close()

    def _read_results(self) -> None:
        loads = orjson.loads
        for batch in self._batches(self._outputs):
            now = time.time()
            for message in batch:
                window = loads(message.key())
                key = window["key"]
                if key.startswith("probe-"):
                    self.probes.add(int(key[6:]))
                    continue
                self.results.append((key, window["start_ms"], int(message.value()), now))

    def _read_inputs(self) -> None:
        for batch in self._batches(self._inputs):
            for message in batch:
                partition = message.partition()
                self.timestamps[partition].append(message.timestamp()[1])
                self.values[partition].append(message.value())
                key = message.key().decode()
                self.keys[partition].append(key)
                self.partition_of[key] = partition

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def delays(self, after_ms: int) -> tuple[list[float], list[str]]:
        """Milliseconds from the closing record's send time to the result's appearance, for
        windows ending after ``after_ms``; and what was wrong (lost, duplicated or wrong
        counts)."""
        problems: list[str] = []
        counts = self.input_counts()
        running_max = {p: list(itertools.accumulate(ts, max)) for p, ts in self.timestamps.items()}
        seen: dict[tuple[str, int], int] = {}
        delays = []
        for key, start, n, visible in self.results:
            if (key, start) in seen:
                problems.append(f"window {key}@{start} written twice")
                continue
            seen[(key, start)] = n
            partition = self.partition_of.get(key)
            if partition is None:
                problems.append(f"result for key {key!r}, never sent")
                continue
            stamps = running_max[partition]
            closing = bisect.bisect_left(stamps, start + self.window_ms)
            if closing == len(stamps):
                problems.append(f"window {key}@{start} written before any record closed it")
                continue
            if start + self.window_ms > after_ms:
                sent = orjson.loads(self.values[partition][closing])["sent"]
                delays.append((visible - sent) * 1000)
        for window, n in counts.items():
            if seen.get(window) != n:
                problems.append(f"window {window[0]}@{window[1]}: {seen.get(window)} != {n} inputs")
                if len(problems) > 5:
                    break
        return sorted(delays), problems

    def input_counts(self) -> Counter:
        """(key, window start) -> input records, over the windows a later record closed."""
        counts: Counter = Counter()
        for partition, stamps in self.timestamps.items():
            if not stamps:
                continue
            end = max(stamps)
            for key, stamp in zip(self.keys[partition], stamps, strict=True):
                start = stamp - stamp % self.window_ms
                if start + self.window_ms <= end and not key.startswith("probe-"):
                    counts[(key, start)] += 1
        return counts
