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


def test_demo_runs_end_to_end(broker):
    command = [sys.executable, "-m", "kstreamy_cli", "demo", "--events", "3000"]
    if broker.kind != "tansu":
        command += ["--bootstrap-servers", broker.bootstrap_servers]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo succeeded" in result.stdout
    assert "dead-lettered" in result.stdout
