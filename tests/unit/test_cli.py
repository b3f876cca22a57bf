import subprocess
import sys

import pytest


def _kstreamy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", ["run", "describe", "status", "broker", "demo"])
def test_every_command_has_help(command):
    result = _kstreamy(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert len(result.stdout.strip().splitlines()) > 5


def test_describe_prints_the_topology(tmp_path, monkeypatch):
    (tmp_path / "myapp.py").write_text(
        "from kstreamy import App\n"
        "app = App('described')\n"
        "app.stream('in', name='src').map_values(str.upper, name='upper').to('out')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", "describe", "myapp:app"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Source: src (topics: [in])" in result.stdout
    assert "Processor: upper [map_values]" in result.stdout


def test_a_wrong_app_spec_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", "describe", "nosuchmodule:app"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    assert "cannot import 'nosuchmodule'" in result.stderr


def test_status_shows_restoration_progress(tmp_path, capsys):
    import os

    from kstreamy.runtime.status import status_path, write_status
    from kstreamy_cli.status import show_status

    write_status(
        status_path(tmp_path),
        {
            "application_id": "app",
            "pid": os.getpid(),
            "state": "running",
            "tasks": {"0_0": "running", "0_1": "restoring"},
            "restoring": {"0_1": {"restored": 1200, "remaining": 800, "records_per_s": 400000}},
            "records_restored": 1200,
            "committed": {"in[0]": 42},
            "metrics": {"records_processed": 7},
        },
    )
    assert show_status(tmp_path)
    out = capsys.readouterr().out
    assert f"pid {os.getpid()}: running" in out
    assert "0_1        restoring (1200 records restored, about 800 to go, 400000 records/s)" in out
    assert "in[0]" in out and "42" in out
    assert not show_status(tmp_path / "elsewhere")


def test_status_without_a_broker_still_shows_this_hosts_instances(tmp_path):
    import os

    from kstreamy import App
    from kstreamy.runtime.group_status import group_status
    from kstreamy.runtime.status import status_path, write_status

    app = App("offline", bootstrap_servers="127.0.0.1:1", state_dir=str(tmp_path))
    app.stream("in").to("out")
    write_status(
        status_path(app.config.app_state_dir),
        {
            "application_id": "offline",
            "instance_id": "i1",
            "pid": os.getpid(),
            "state": "failed",
            "error": "deserialization of value failed at topic=in partition=0 offset=7",
        },
    )
    view = group_status(app.config, app.topology, [app.config.app_state_dir], timeout=1.0)
    assert view["broker_error"].startswith("no group view from 127.0.0.1:1")
    assert view["members"] == [] and view["lag"] == []
    (local,) = view["local"]
    assert (local["instance_id"], local["state"], local["alive"]) == ("i1", "failed", True)
    assert local["error"].endswith("offset=7")
