"""Counters an instance keeps about itself; cheap to bump on the hot path."""

from __future__ import annotations

import dataclasses


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
    late_records_routed: int = 0
