"""What a running instance says about itself in its status file (read by ``kstreamy status``).

Assembled here from the parts that know it (tasks, commits, restoration, metrics, per-task lag,
latency and watermark delay), so none of them needs to know the file's shape. Frequent events (a
commit every 100 ms under exactly-once, restoration progress) write at most once a second.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

from kstreamy.config import AppConfig
from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.consumer_lag import LagSampler
from kstreamy.runtime.metrics import Metrics
from kstreamy.runtime.restore import Restorer
from kstreamy.runtime.status_file import status_path, write_status
from kstreamy.runtime.task_manager import TaskManager
from kstreamy.runtime.task_stats import TaskStats

log = logging.getLogger("kstreamy.instance")

THROTTLE_S = 1.0


class StatusReporter:
    def __init__(
        self,
        config: AppConfig,
        instance_id: str,
        tasks: TaskManager,
        commits: CommitManager,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.instance_id = instance_id
        self.path = status_path(config.app_state_dir)
        self.tasks = tasks
        self.commits = commits
        self.metrics = metrics
        self.restorer: Restorer | None = None
        self.lag: LagSampler | None = None
        """Set when the loop samples consumer lag (see :class:`Services`)."""
        self._task_stats = TaskStats()
        self.state = "starting"
        self.error: str | None = None
        self.due = False
        """Something changed that may wait up to a second to be written."""
        self._last_write = 0.0
        self.last_written: dict[str, Any] | None = None
        """The snapshot last written, for readers on other threads (the metrics collector)."""
        self._write_failed = False

    def write_if_due(self) -> None:
        """Called on every loop round: writes when due (or restoring) and a second has passed."""
        restoring = self.restorer is not None and self.restorer.busy
        if (self.due or restoring) and time.monotonic() - self._last_write > THROTTLE_S:
            self.write()

    def write(self) -> None:
        self._last_write = time.monotonic()
        self.due = False
        self.last_written = self.snapshot()
        try:
            write_status(self.path, self.last_written)
        except OSError as exc:
            # The file only informs; a full or read-only disk is reported (and stops the
            # instance) where state is written. Failing here instead would hide that error
            # behind a traceback, the final write on the way out replacing it.
            if not self._write_failed:
                log.warning("cannot write the status file %s: %s", self.path, exc)
            self._write_failed = True
        else:
            self._write_failed = False

    def snapshot(self) -> dict[str, Any]:
        restorer = self.restorer
        tasks = self.tasks
        leads = tasks.sub_of_lead
        return {
            "application_id": self.config.application_id,
            "instance_id": self.instance_id,
            "processing_guarantee": self.config.processing_guarantee,
            "pid": os.getpid(),
            "state": self.state,
            "error": self.error,
            "partitions": sorted(f"{t}[{p}]" for t, p in tasks.routes if t in leads),
            "tasks": {
                tid: ("restoring" if tid in tasks.paused else "running")
                for tid in sorted(tasks.tasks)
            },
            "restoring": restorer.progress() if restorer is not None else {},
            "records_restored": restorer.records_restored if restorer is not None else 0,
            "committed": {f"{t}[{p}]": o for (t, p), o in sorted(self.commits.committed.items())},
            "metrics": dataclasses.asdict(self.metrics),
            "task_stats": self._task_stats.snapshot(tasks.active(), self.lag),
            "store_memory": tasks.state_manager.resources.usage(),
        }
