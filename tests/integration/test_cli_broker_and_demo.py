"""The CLI's long-running commands, run as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.integration


def test_broker_command_prints_its_address_and_stops_on_sigterm(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "kstreamy_cli", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = process.stdout.readline().strip()
        assert address.startswith("127.0.0.1:")
        metadata = AdminClient({"bootstrap.servers": address}).list_topics(timeout=10)
        assert metadata.brokers
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert "embedded broker stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_demo_walks_through_every_scenario_and_passes(broker):
    command = [sys.executable, "-m", "kstreamy_cli", "demo", "--fast"]
    if broker.kind != "tansu":
        command += ["--bootstrap-servers", broker.bootstrap_servers]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "120"}
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert "FAIL" not in result.stdout
    for title in (
        "event time",
        "failure",
        "planned downtime",
        "code upgrade",
        "reprocessing",
        "rescaling",
    ):
        row = next(
            line for line in result.stdout.splitlines() if f" {title} " in line and "/" in line
        )
        assert "PASS" in row, row
    assert result.stdout.count("kstreamy savepoint create") == 4
    assert "kill -9" in result.stdout
