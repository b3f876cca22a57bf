"""Per-task lag, latency quantiles and watermark delay: in the status file and `kstreamy status`."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from kstreamy.runtime.commit_manager import CommitManager
from kstreamy.runtime.consumer_lag import LagSampler
from kstreamy.runtime.status_file import read_status, status_path, write_status
from kstreamy.runtime.status_report import StatusReporter
from kstreamy_cli.status import show_status, task_figures
from tests_support.local_tasks import Record, counting_app, task_manager


def test_the_status_file_carries_lag_latency_and_watermark_delay(tmp_path):
    app = counting_app(tmp_path)
    tasks = task_manager(app, partitions=2, local=[0, 1])
    metrics = tasks.metrics
    status = StatusReporter(app.config, "i", tasks, CommitManager(True, metrics), metrics)
    consumer = SimpleNamespace(get_watermark_offsets=lambda tp, cached=False: (0, 25))
    clients = SimpleNamespace(consumer=consumer, secondary=None)
    status.lag = LagSampler(tasks, lambda: clients)
    try:
        task = tasks.tasks["0_0"]
        task.process(Record("words", 0, 4, b"w", b"w"), "words")
        task.advance_stream_time()
        now_ms = time.time() * 1000
        for age in (3, 4, 30, 40):  # ms between the records' timestamps and their send
            task.latency.saw(int(now_ms) - age, int(now_ms) - age)
            task.latency.sent(now_ms)
        task.latency.committed(now_ms + 1_000)
        status.lag.sample()
        status.write()
        written = read_status(status.path)
    finally:
        tasks.close_all()
    memory = written["store_memory"]
    assert memory["bound_bytes"] == tasks.state_manager.resources.total_bytes
    # Open stores reserve memtable space, charged to the one cache.
    assert memory["used_bytes"] >= memory["memtable_bytes"] > 0
    stats = written["task_stats"]
    assert set(stats) == {"0_0"}  # 0_1 saw nothing: no figures rather than zeros
    assert stats["0_0"]["lag"] == {"words[0]": 20}
    send = stats["0_0"]["latency_ms"]["send"]
    assert send["samples"] == 4
    assert 2 <= send["p50"] <= 5 and 20 < send["p99"] <= 50
    commit = stats["0_0"]["latency_ms"]["commit"]
    assert commit["samples"] == 2 and 1000 < commit["p50"] <= 2000
    # The records are from 2023 (tests_support.local_tasks.Record): the watermark is far behind.
    assert stats["0_0"]["watermark_delay_ms"] > 86_400_000


def test_task_figures_line():
    assert task_figures({}) == ""
    line = task_figures(
        {
            "lag": {"in[0]": 12},
            "latency_ms": {
                "send": {"p50": 3.4, "p99": 41.0, "samples": 10},
                "commit": {"p50": 120.0, "p99": 2500.0, "samples": 4},
            },
            "watermark_delay_ms": 65_000,
        }
    )
    assert line == (
        "lag 12, send latency p50 3 ms p99 41 ms, commit latency p50 120 ms p99 2.5 s, "
        "watermark 65 s behind"
    )
    two = task_figures({"lag": {"in[1]": 3, "other[1]": 4}})
    assert two == "lag 7 (in[1] 3, other[1] 4)"


def test_status_prints_the_figures_under_their_task(tmp_path, capsys):
    write_status(
        status_path(tmp_path),
        {
            "application_id": "app",
            "pid": os.getpid(),
            "state": "running",
            "tasks": {"0_0": "running", "0_1": "running"},
            "task_stats": {
                "0_1": {
                    "lag": {"in[1]": 7},
                    "latency_ms": {"send": {"p50": 8.0, "p99": 95.0, "samples": 12}},
                }
            },
            "metrics": {"records_processed": 7},
        },
    )
    assert show_status(tmp_path)
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("  0_1        running")
    assert lines[at + 1] == "             lag 7, send latency p50 8 ms p99 95 ms"
    assert lines[at - 1] == "  0_0        running"  # no figures: no line
