"""Latency profiles: the settings that trade latency against throughput, chosen together.

A profile sets the commit interval (at-least-once), the producer's ``linger.ms`` and the most
records a loop round takes; any of them given explicitly wins (see
:class:`kstreamy.config.AppConfig`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

LatencyProfile = Literal["low", "balanced", "throughput"]


@dataclasses.dataclass(frozen=True)
class ProfileSettings:
    """What a ``latency_profile`` sets; any of it given explicitly wins."""

    commit_interval_ms: int
    """Under at-least-once (exactly-once commits every 100 ms in every profile)."""
    linger_ms: int
    """The producer's ``linger.ms``."""
    poll_batch_size: int


LATENCY_PROFILES: dict[str, ProfileSettings] = {
    "low": ProfileSettings(commit_interval_ms=1000, linger_ms=0, poll_batch_size=500),
    "balanced": ProfileSettings(commit_interval_ms=5000, linger_ms=5, poll_batch_size=2000),
    "throughput": ProfileSettings(commit_interval_ms=30000, linger_ms=100, poll_batch_size=5000),
}
"""Latency against throughput, set together. The producer sends as soon as a record is ready
when the loop is idle, and batches by itself under load (records pile up while earlier requests
are in flight), so a small ``linger.ms`` costs little throughput; ``throughput`` is Kafka
Streams' choice (``linger.ms`` 100, 30 s commits at least once)."""
