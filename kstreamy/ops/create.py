"""``savepoint create``: live through the running instances, or offline when none runs."""

from __future__ import annotations

from kstreamy.config import AppConfig
from kstreamy.ops.group import check_liveness
from kstreamy.ops.live import create_live_savepoint
from kstreamy.ops.offline import create_offline_savepoint
from kstreamy.ops.progress import NoProgress, Progress
from kstreamy.topology import Topology


def create_savepoint(
    topology: Topology,
    config: AppConfig,
    root: str,
    stop: bool = False,
    timeout: float = 300.0,
    progress: Progress | None = None,
    partitioner: str = "murmur2",
) -> str:
    """Take a savepoint under ``root``; returns its location."""
    progress = progress or NoProgress()
    progress.begin("looking for running instances")
    if check_liveness(config, ping_timeout=0.5).alive:
        progress.log("instances are running: each snapshots its tasks at its next commit")
        return create_live_savepoint(topology, config, root, stop, timeout, progress, partitioner)
    progress.log("no instance is running: building the savepoint from committed offsets")
    return create_offline_savepoint(topology, config, root, progress, partitioner)
