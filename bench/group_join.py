"""How long `kstreamy run` takes to get its partitions on the embedded broker (or another).

Three cases, each timed from the start of a `kstreamy run` process to the first "assigned:"
line in its log: the first instance of a new group, the same instance restarted after a
graceful stop, and a second instance joining while the first runs. Instances have their own
working directories, so each has its own ./state. Extra `kstreamy run` arguments (after --)
apply to every instance, e.g. `-- --set session_timeout_ms=10000` for the previous default.

    .venv/bin/python bench/group_join.py [-- extra kstreamy run arguments]
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kstreamy.testing.broker import EmbeddedBroker  # noqa: E402
from kstreamy.testing.topics import create_topics  # noqa: E402

APP = """
import os
from kstreamy import App
app = App(os.environ["BENCH_APP_ID"])
app.stream(os.environ["BENCH_TOPIC"]).to(os.environ["BENCH_TOPIC"] + "-out")
"""


class Run:
    def __init__(self, workdir: Path, env: dict[str, str], extra: list[str]) -> None:
        workdir.mkdir(exist_ok=True)
        self.log_path = workdir / "run.log"
        self.started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kstreamy_cli", "run", "bench_join_app:app", *extra],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_assigned(self, timeout: float = 120.0) -> float:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if "assigned:" in self.log_path.read_text(errors="replace"):
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise SystemExit(f"instance exited:\n{self.log_path.read_text()[-2000:]}")
            time.sleep(0.02)
        raise SystemExit(f"no assignment within {timeout}s:\n{self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def measure(bootstrap: str, extra: list[str]) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="kstreamy-join-"))
    (tmp / "bench_join_app.py").write_text(APP)
    topic = f"join-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, {topic: 4, f"{topic}-out": 4})
    env = {
        **os.environ,
        "BENCH_APP_ID": f"join-{uuid.uuid4().hex[:6]}",
        "BENCH_TOPIC": topic,
        "KSTREAMY_BOOTSTRAP_SERVERS": bootstrap,
        "PYTHONPATH": os.pathsep.join([str(tmp), str(ROOT)]),
    }
    times: dict[str, float] = {}
    first = Run(tmp / "a", env, extra)
    try:
        _note(times, "first instance, new group", first.wait_assigned())
        first.stop()
        first = Run(tmp / "a", env, extra)
        _note(times, "restart after a graceful stop", first.wait_assigned())
        second = Run(tmp / "b", env, extra)
        try:
            _note(times, "second instance joins", second.wait_assigned())
        finally:
            second.stop()
    finally:
        if first.process.poll() is None:
            first.stop()
    return times


def _note(times: dict[str, float], label: str, seconds: float) -> None:
    times[label] = seconds
    print(f"{label:<32} {seconds:6.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KSTREAMY_BOOTSTRAP"))
    parser.add_argument("extra", nargs="*", help="extra `kstreamy run` arguments (after --)")
    args = parser.parse_args()
    if args.bootstrap_servers:
        times = measure(args.bootstrap_servers, args.extra)
    else:
        with EmbeddedBroker() as embedded:
            times = measure(embedded.bootstrap_servers, args.extra)
    print("total", f"{sum(times.values()):.1f} s")


if __name__ == "__main__":
    main()
