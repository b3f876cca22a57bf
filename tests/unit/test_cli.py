import subprocess
import sys

import pytest


def _kstreamy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", *args], capture_output=True, text=True, timeout=60
    )


COMMANDS = [
    ["run"],
    ["describe"],
    ["status"],
    ["broker"],
    ["demo"],
    ["topics"],
    ["topics", "create"],
    ["topics", "list"],
    ["topics", "produce"],
    ["topics", "tail"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_without_placeholders(command):
    result = _kstreamy(*command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert len(result.stdout.strip().splitlines()) > 5
    assert "<bool>" not in result.stdout
    assert "{" not in result.stdout  # no {app_spec}-style placeholders
    assert _kstreamy(*command, "-h").stdout == result.stdout


def test_help_documents_app_specs_settings_and_logging():
    run_help = _kstreamy("run", "-h").stdout
    assert "Usage: kstreamy run [OPTIONS] MODULE:APP" in run_help
    assert "module:factory" in run_help
    for text in ("--state-dir", "--set KEY=VALUE", "KSTREAMY_<SETTING>", "KSTREAMY_LOG_LEVEL"):
        assert text in run_help
    assert "KSTREAMY_LOG_LEVEL" in _kstreamy("-h").stdout


def test_version():
    from kstreamy import __version__

    result = _kstreamy("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kstreamy {__version__}"


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
    mermaid = subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", "describe", "myapp:app", "--format", "mermaid"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert mermaid.returncode == 0, mermaid.stderr
    assert "flowchart LR" in mermaid.stdout
    assert "upper" in mermaid.stdout


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

    from kstreamy.runtime.status_file import status_path, write_status
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


def _status_of(tmp_path, *args, env=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", "status", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


FACTORY_APP = (
    "from kstreamy import App\n"
    "def build():\n"
    "    app = App('factory-app', state_dir='from-code')\n"
    "    app.stream('in').to('out')\n"
    "    return app\n"
)


def test_a_factory_app_takes_settings_from_set_over_environment_over_code(tmp_path):
    from kstreamy.runtime.status_file import status_path, write_status

    (tmp_path / "factoryapp.py").write_text(FACTORY_APP)
    for where in ("from-code", "from-env", "from-set"):
        write_status(
            status_path(tmp_path / where / "factory-app"),
            {"application_id": "factory-app", "pid": 1, "state": "stopped", "tasks": {}},
        )
    env = {"KSTREAMY_STATE_DIR": "from-env"}
    by_code = _status_of(tmp_path, "factoryapp:build")
    by_env = _status_of(tmp_path, "factoryapp:build", env=env)
    by_set = _status_of(tmp_path, "factoryapp:build", "--set", "state_dir=from-set", env=env)
    by_flag = _status_of(tmp_path, "factoryapp:build", "--state-dir", "from-set", env=env)
    for result in (by_code, by_env, by_set, by_flag):
        assert result.returncode == 0, result.stderr
    assert "from-code" not in by_env.stdout + by_set.stdout
    assert "application  factory-app" in by_code.stdout


def test_bad_settings_from_the_command_line_and_environment_are_one_clear_error(tmp_path):
    (tmp_path / "factoryapp.py").write_text(FACTORY_APP)
    bad_set = _status_of(tmp_path, "factoryapp:build", "--set", "poll_batch_size=lots")
    assert bad_set.returncode == 1
    assert "--set poll_batch_size=lots: poll_batch_size must be an integer" in bad_set.stderr
    assert "Traceback" not in bad_set.stderr
    no_equals = _status_of(tmp_path, "factoryapp:build", "--set", "state_dir")
    assert no_equals.returncode == 2
    assert "KEY=VALUE" in no_equals.stderr
    bad_env = _status_of(
        tmp_path, "factoryapp:build", env={"KSTREAMY_ON_PROCESSING_ERROR": "ignore"}
    )
    assert bad_env.returncode == 1
    assert "KSTREAMY_ON_PROCESSING_ERROR: on_processing_error must be one of" in bad_env.stderr
    assert "Traceback" not in bad_env.stderr


def test_status_shows_why_an_instance_stopped(tmp_path, capsys):
    from kstreamy.runtime.status_file import status_path, write_status
    from kstreamy_cli.status import show_status

    write_status(
        status_path(tmp_path),
        {
            "application_id": "app",
            "pid": 1,
            "state": "failed",
            "error": "RecordError: deserialization of value failed at topic=in partition=0",
            "tasks": {},
        },
    )
    assert show_status(tmp_path)
    out = capsys.readouterr().out
    assert "error        RecordError: deserialization of value failed at topic=in" in out


def test_status_without_a_broker_still_shows_this_hosts_instances(tmp_path):
    import os

    from kstreamy import App
    from kstreamy.ops.group_status import group_status
    from kstreamy.runtime.status_file import status_path, write_status

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
