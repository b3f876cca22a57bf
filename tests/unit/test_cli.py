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
