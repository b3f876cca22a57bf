"""The savepoint commands that need no broker: inspect, list, verify, query, export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests_support.savepoints import write_counts_savepoint

COUNTS = {f"user-{i}": i for i in range(1, 40)}

APP_MODULE = """
from kstreamy import App

app = App("sp-app")
app.stream("in", key_serde="str", value_serde="json").group_by_key().count(
    store="counts"
).to("out", value_serde="int")
"""


def _kstreamy(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kstreamy_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "command",
    [
        ("savepoint", "create"),
        ("savepoint", "list"),
        ("savepoint", "inspect"),
        ("savepoint", "verify"),
        ("savepoint", "query"),
        ("savepoint", "export"),
        ("reset",),
    ],
)
def test_every_command_has_help_with_an_example(command):
    result = _kstreamy(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example: kstreamy " + " ".join(command) in " ".join(result.stdout.split())


@pytest.fixture
def savepoint(tmp_path) -> str:
    return write_counts_savepoint(tmp_path / "sp", COUNTS)


def test_inspect_list_and_verify(savepoint, tmp_path):
    inspected = _kstreamy("savepoint", "inspect", savepoint)
    assert inspected.returncode == 0, inspected.stderr
    assert "application  sp-app" in inspected.stdout
    assert "counts" in inspected.stdout and "key_value" in inspected.stdout
    as_json = json.loads(_kstreamy("savepoint", "inspect", savepoint, "--json").stdout)
    assert as_json["format_version"] == 1
    listed = _kstreamy("savepoint", "list", str(tmp_path / "sp"))
    assert Path(savepoint).name in listed.stdout
    (tmp_path / "myapp.py").write_text(APP_MODULE)
    verified = _kstreamy("savepoint", "verify", savepoint, "myapp:app", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "is intact" in verified.stdout


def test_query_finds_one_key_without_a_broker(savepoint, tmp_path):
    found = _kstreamy("savepoint", "query", savepoint, "--store", "counts", "--key", "user-7")
    assert found.returncode == 0, found.stderr
    entry = json.loads(found.stdout)
    assert entry["key"] == "user-7" and entry["value"] == 7
    missing = _kstreamy("savepoint", "query", savepoint, "--store", "counts", "--key", "nobody")
    assert missing.returncode == 1
    assert "no entry for key 'nobody'" in missing.stderr
    wrong = _kstreamy("savepoint", "query", savepoint, "--store", "nope", "--key", "x")
    assert wrong.returncode == 1
    assert "has no store 'nope' (has: counts)" in " ".join(wrong.stderr.split())


def test_export_writes_every_entry_as_json_lines(savepoint, tmp_path):
    (tmp_path / "myapp.py").write_text(APP_MODULE)
    out = tmp_path / "counts.jsonl"
    result = _kstreamy(
        "savepoint", "export", savepoint, "--store", "counts", "--app", "myapp:app",
        "-o", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["key"]: e["value"] for e in lines} == COUNTS
    assert {e["task"] for e in lines} == {"0_0", "0_1"}
    to_stdout = _kstreamy("savepoint", "export", savepoint, "--store", "counts")
    assert len(to_stdout.stdout.splitlines()) == len(COUNTS)


def test_a_damaged_savepoint_is_refused_by_every_reader(savepoint):
    sst = next(Path(savepoint).glob("tasks/*/counts.sst"))
    sst.write_bytes(sst.read_bytes()[:-10])
    for args in (
        ("verify", savepoint),
        ("query", savepoint, "--store", "counts", "--key", "user-1"),
        ("export", savepoint, "--store", "counts"),
    ):
        result = _kstreamy("savepoint", *args)
        assert result.returncode == 1
        assert "is damaged" in result.stderr and "bytes, expected" in result.stderr
