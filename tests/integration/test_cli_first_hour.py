"""The first hour from a terminal, as real processes: create topics, produce sample input, run
two instances on one machine (the second with its own --state-dir), read the output decoded
with the application's serdes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kstreamy.runtime.status_file import read_status, status_path
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

APP = """
from kstreamy import App

app = App("{app_id}", state_dir="{state_dir}", commit_interval_ms=200)
(
    app.stream("{lines}", value_serde="str")
    .flat_map(lambda key, line: [(word, word) for word in line.split()])
    .group_by_key(name="words", key_serde="str", value_serde="str")
    .count(store="counts")
    .to("{counts}", value_serde="int")
)
"""


class Terminal:
    """Runs ``kstreamy`` commands in one directory with one environment."""

    def __init__(self, cwd: Path, bootstrap: str) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "KSTREAMY_BOOTSTRAP_SERVERS": bootstrap}
        self.started: list[subprocess.Popen[bytes]] = []

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kstreamy_cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=self.env,
            timeout=60,
        )

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with open(self.cwd / log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "kstreamy_cli", *args],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def terminal(tmp_path, bootstrap):
    term = Terminal(tmp_path, bootstrap)
    try:
        yield term
    finally:
        term.stop_all()


def _partitions(state_dir: Path, app_id: str) -> list[str]:
    status = read_status(status_path(state_dir / app_id)) or {}
    return status.get("partitions", []) if status.get("state") == "running" else []


def test_create_produce_scale_out_here_and_tail(terminal, unique_name, tmp_path):
    app_id, lines, counts = unique_name("wc"), unique_name("lines"), unique_name("counts")
    shared = tmp_path / "state"
    (tmp_path / "wc_app.py").write_text(
        APP.format(app_id=app_id, state_dir=shared, lines=lines, counts=counts)
    )

    created = terminal("topics", "create", lines, counts, "--partitions", "2")
    assert created.returncode == 0, created.stderr
    assert f"{lines}: created (2 partitions)" in created.stderr
    again = terminal("topics", "create", lines, "--partitions", "4")
    assert f"{lines}: exists already (2 partitions)" in again.stderr
    listed = terminal("topics", "list").stdout.splitlines()
    assert f"{lines}\t2" in listed and f"{counts}\t2" in listed

    produced = terminal(
        "topics", "produce", lines, "--app", "wc_app:app", stdin="the cat\nthe hat\n"
    )
    assert produced.returncode == 0, produced.stderr
    assert f"produced 2 records to {lines}" in produced.stderr

    # Scale out here: the second instance would stop on the first one's state directory lock.
    first = terminal.start("run", "wc_app:app", log="first.log")
    second = terminal.start("run", "wc_app:app", "--state-dir", str(tmp_path / "wc-2"), log="b.log")
    repartition = f"{app_id}-words-repartition"
    everything = sorted(f"{t}[{p}]" for t in (lines, repartition) for p in (0, 1))

    def owned() -> tuple[list[str], list[str]]:
        return _partitions(shared, app_id), _partitions(tmp_path / "wc-2", app_id)

    wait_until(
        lambda: (
            (owned()[0] and owned()[1] and sorted(owned()[0] + owned()[1]) == everything)
            or first.poll() is not None
            or second.poll() is not None
        ),
        90,
        what="the two instances to share every partition",
    )
    assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    assert second.poll() is None, (tmp_path / "b.log").read_text()[-3000:]

    def tail() -> list[str]:
        return terminal("topics", "tail", counts, "--app", "wc_app:app").stdout.splitlines()

    latest = wait_until(lambda: "the\t2" in tail() and tail(), 60, what="the counts")
    assert {"the\t1", "the\t2", "cat\t1", "hat\t1"} <= set(latest)
    raw = terminal("topics", "tail", counts, "--max", "1").stdout
    assert "\\x00" in raw  # without --app, the 8-byte counts are shown as bytes


def test_produce_names_the_bad_line(terminal, unique_name, tmp_path):
    app_id, lines, counts = unique_name("wc"), unique_name("lines"), unique_name("counts")
    (tmp_path / "wc_app.py").write_text(
        APP.format(app_id=app_id, state_dir=tmp_path, lines=lines, counts=counts)
    )
    terminal("topics", "create", lines, counts)
    bad = terminal("topics", "produce", counts, "--app", "wc_app:app", stdin="a\t1\nb\tlots\n")
    assert bad.returncode == 1
    assert "line 2: expected an integer, got 'lots' (1 records before it produced)" in bad.stderr
    missing = terminal("topics", "produce", "no-such-topic", stdin="x\n")
    assert missing.returncode == 1
    assert "kstreamy topics create no-such-topic --partitions N" in missing.stderr
