"""Counters an instance keeps about itself; cheap to bump on the hot path.

Plain ints and floats, bumped by the loop and read by the status file and, at scrape time, by
the Prometheus collector (:mod:`kstreamy.runtime.prometheus`): nothing here calls a metrics
library per record. Per-task counters live on the tasks (``records_in``, ``records_out``).
"""

from __future__ import annotations

import bisect
import dataclasses

COMMIT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Upper bounds (seconds) of the commit latency histogram; one more bucket counts the rest."""


@dataclasses.dataclass
class Metrics:
    records_processed: int = 0
    records_skipped: int = 0
    records_dead_lettered: int = 0
    commits: int = 0
    commit_seconds_total: float = 0.0
    transactions_aborted: int = 0
    rebalances: int = 0
    late_records_dropped: int = 0
    """Records that arrived after their window closed (behind the watermark), dropped."""
    late_records_routed: int = 0

    def __post_init__(self) -> None:
        # Not a dataclass field: the status file keeps the counters above, not the histogram.
        self.commit_latency_counts = [0] * (len(COMMIT_LATENCY_BUCKETS) + 1)

    def observe_commit(self, seconds: float) -> None:
        """A commit sequence completed in ``seconds`` (once per commit, not per record)."""
        self.commit_seconds_total += seconds
        self.commit_latency_counts[bisect.bisect_left(COMMIT_LATENCY_BUCKETS, seconds)] += 1
