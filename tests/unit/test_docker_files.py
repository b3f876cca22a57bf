"""docker/: no Docker engine runs here, so test what can be: the compose file parses and scales,
the image runs the same `kstreamy run` as the tests, and the compose environment reaches the
App through the KSTREAMY_* settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

from kstreamy import App

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _dockerfile() -> dict[str, list[str]]:
    """Instruction -> arguments of its last occurrence (JSON form for ENTRYPOINT/CMD)."""
    instructions: dict[str, list[str]] = {}
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        instructions[word] = json.loads(rest) if rest.startswith("[") else rest.split()
    return instructions


def test_compose_runs_kafka_in_kraft_mode_and_a_scalable_app_service():
    services = _compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    app = services["app"]
    # Scaling to N replicas needs no fixed container name and no fixed host port.
    assert "container_name" not in app and "ports" not in app
    assert (DOCKER / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        DOCKER / "Dockerfile"
    )
    assert app["stop_signal"] == "SIGTERM"


def test_the_image_copies_what_exists_and_runs_kstreamy_run():
    instructions = _dockerfile()
    assert instructions["ENTRYPOINT"] == ["kstreamy", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kstreamy"] == "kstreamy_cli.main:main"  # what `python -m kstreamy_cli` runs
    module, _, attr = instructions["CMD"][0].partition(":")
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file() and attr
    text = (DOCKER / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_compose_settings_reach_the_app(monkeypatch):
    environment = _compose()["services"]["app"]["environment"]
    settings = {k: str(v) for k, v in environment.items() if k.startswith("KSTREAMY_")}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    config = App("in-compose", on_deserialization_error="fail", commit_interval_ms=5).config
    assert config.bootstrap_servers == environment["KSTREAMY_BOOTSTRAP_SERVERS"]
    assert config.on_deserialization_error == environment["KSTREAMY_ON_DESERIALIZATION_ERROR"]
    assert config.commit_interval_ms == int(environment["KSTREAMY_COMMIT_INTERVAL_MS"])


def test_the_image_command_with_the_compose_environment(tmp_path):
    """The container's command, run here: it reads its broker address from the compose
    environment and, with no broker of that name here, says so and stops."""
    app = _compose()["services"]["app"]
    env = {k: str(v) for k, v in app["environment"].items()}
    command = [*_dockerfile()["ENTRYPOINT"], *app["command"]]
    assert command[:2] == ["kstreamy", "run"]
    result = subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", *command[1:]],
        # Waits the startup timeout for a broker that may still be starting: a short one here.
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "KSTREAMY_STARTUP_TIMEOUT_MS": "3000"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        "cannot reach Kafka at kafka:9092 (bootstrap_servers, from KSTREAMY_BOOTSTRAP_SERVERS)"
        in result.stderr
    ), result.stderr[-2000:]
