"""No broker at the configured address: one clear error, quickly, without librdkafka noise.

Needs no broker: the address is a real local port nothing listens on.
"""

import os
import subprocess
import sys
import time

import pytest

from kstreamy.testing.broker import free_port

APP = "from kstreamy import App\napp = App('nowhere')\napp.stream('in').to('out')\n"


def _kstreamy(tmp_path, *args, env=None):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={
            **os.environ,
            "KSTREAMY_LOG_LEVEL": "INFO",
            "KSTREAMY_STARTUP_TIMEOUT_MS": "3000",
            **(env or {}),
        },
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_run_names_the_address_and_how_to_set_it(tmp_path, how):
    (tmp_path / "nowhere.py").write_text(APP)
    address = f"127.0.0.1:{free_port()}"
    if how == "flag":
        result, took = _kstreamy(tmp_path, "run", "nowhere:app", "-b", address)
        source = "from --set"
    else:
        env = {"KSTREAMY_BOOTSTRAP_SERVERS": address}
        result, took = _kstreamy(tmp_path, "run", "nowhere:app", env=env)
        source = "from KSTREAMY_BOOTSTRAP_SERVERS"
    assert result.returncode == 1
    assert took < 20
    error = result.stderr.strip().splitlines()[-1]
    assert f"cannot reach Kafka at {address} (bootstrap_servers, {source})" in error
    assert "Connection refused" in error
    for way in (
        "bootstrap_servers in App(...)",
        "--bootstrap-servers",
        "KSTREAMY_BOOTSTRAP_SERVERS",
    ):
        assert way in error
    # librdkafka's own lines go through logging, once, not raw to stderr by the hundred
    assert "%3|" not in result.stderr
    assert len(result.stderr.splitlines()) <= 5


def test_topics_commands_fail_the_same_way(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    result, took = _kstreamy(tmp_path, "topics", "list", "-b", address)
    assert result.returncode == 1
    assert took < 20
    assert f"cannot reach Kafka at {address} (bootstrap_servers, from --bootstrap-servers)" in (
        result.stderr
    )
    assert "%3|" not in result.stderr


def test_run_waits_its_startup_timeout_saying_so_then_stops(tmp_path):
    """A broker may still be starting (a compose file, a node reboot): the instance waits
    ``startup_timeout_ms`` for it, with one line every 10 s, not one per connection attempt."""
    (tmp_path / "nowhere.py").write_text(APP)
    address = f"127.0.0.1:{free_port()}"
    env = {"KSTREAMY_BOOTSTRAP_SERVERS": address, "KSTREAMY_STARTUP_TIMEOUT_MS": "12000"}
    result, took = _kstreamy(tmp_path, "run", "nowhere:app", env=env)
    assert result.returncode == 1
    assert 12 <= took < 30
    waiting = [line for line in result.stderr.splitlines() if "waiting for Kafka at" in line]
    assert len(waiting) == 1, result.stderr
    assert f"waiting for Kafka at {address}" in waiting[0]
    assert "(startup_timeout_ms)" in waiting[0]
    assert f"cannot reach Kafka at {address}" in result.stderr.strip().splitlines()[-1]
    assert len(result.stderr.splitlines()) <= 8, result.stderr
