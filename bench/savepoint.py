"""Savepoint and reset timings on a store of many keys.

    python bench/savepoint.py [--events 400000] [--keys 200000] [--bootstrap-servers host:port]

A count per key over ``--events`` events with ``--keys`` distinct keys on 4 partitions runs in
this process until it has read everything. Then: a live savepoint (the instance snapshots its
4 tasks at a commit boundary; timed from the request to the verified manifest, and how long the
tasks were held), an offline savepoint of the stopped application (from the committed offsets
and the changelogs), a reset to the savepoint (verify, re-create topics, reseed changelogs,
offsets), and the restart: restoring the reseeded changelogs until every task runs.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from pathlib import Path

from common import arguments, broker

from kstreamy import App
from kstreamy.ops.live import create_live_savepoint
from kstreamy.ops.offline import create_offline_savepoint
from kstreamy.ops.reset_plan import plan_reset
from kstreamy.ops.reset_run import run_reset
from kstreamy.runtime.status_file import read_status, status_path
from kstreamy.savepoint import Savepoint
from kstreamy.testing.topics import create_topics, produce


def _app(app_id: str, bootstrap: str, topic: str, state_dir: str) -> App:
    app = App(
        app_id,
        bootstrap_servers=bootstrap,
        state_dir=state_dir,
        commit_interval_ms=1000,
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
        heartbeat_interval_ms=500,
    )
    app.stream(topic, key_serde="str", value_serde="str").group_by_key().count(store="counts").to(
        f"{topic}-out", value_serde="int"
    )
    return app


def _run(app: App) -> threading.Thread:
    thread = threading.Thread(target=app.run, kwargs={"install_signal_handlers": False})
    thread.start()
    return thread


def _wait(condition, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.1)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 400_000, rounds=1)
    keys = max(1, args.events // 2)
    logging.basicConfig(level=logging.WARNING)
    with broker(args.bootstrap_servers) as bootstrap:
        topic = f"bench-sp-{uuid.uuid4().hex[:6]}"
        create_topics(bootstrap, {topic: 4, f"{topic}-out": 4})
        produce(
            bootstrap,
            topic,
            ((f"key-{i % keys:08d}".encode(), b"x") for i in range(args.events)),
        )
        state = tempfile.mkdtemp(prefix="kstreamy-bench-")
        app_id = f"bench-sp-{uuid.uuid4().hex[:6]}"
        app = _app(app_id, bootstrap, topic, state)
        status = status_path(app.config.app_state_dir)
        thread = _run(app)
        _wait(lambda: app.metrics is not None and app.metrics.records_processed >= args.events)
        root = str(Path(state) / "savepoints")

        started = time.perf_counter()
        location = create_live_savepoint(app.topology, app.config, root)
        live = time.perf_counter() - started
        entries = sum(
            ref.entries for t in Savepoint.open(location).manifest.tasks.values()
            for ref in t.stores.values()
        )  # fmt: skip
        size = Savepoint.open(location).total_bytes()
        app.stop()
        thread.join()

        started = time.perf_counter()
        create_offline_savepoint(app.topology, app.config, root)
        offline = time.perf_counter() - started

        started = time.perf_counter()
        plan = plan_reset(app.topology, app.config, savepoint_path=location, target_text="bench")
        run_reset(plan, app.config)
        reset = time.perf_counter() - started

        restarted = _app(app_id, bootstrap, topic, tempfile.mkdtemp(prefix="kstreamy-bench-"))
        status = status_path(restarted.config.app_state_dir)
        started = time.perf_counter()
        thread = _run(restarted)

        def restored() -> bool:
            s = read_status(status) or {}
            tasks = s.get("tasks", {})
            return len(tasks) == 4 and all(v == "running" for v in tasks.values())

        _wait(restored)
        restore = time.perf_counter() - started
        restarted.stop()
        thread.join()
        print(f"store entries            {entries} ({size / 1e6:.1f} MB of SST files)")
        print(f"live savepoint           {live:.2f} s (request to verified manifest)")
        print(f"offline savepoint        {offline:.2f} s ({entries / offline:,.0f} entries/s)")
        print(f"reset to the savepoint   {reset:.2f} s ({entries / reset:,.0f} entries/s)")
        print(f"restart until restored   {restore:.2f} s ({entries / restore:,.0f} entries/s)")


if __name__ == "__main__":
    main()
