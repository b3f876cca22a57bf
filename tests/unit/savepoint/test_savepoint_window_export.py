"""Exporting and querying window and session stores of a savepoint, without a broker: every
window with its record key, value, start and end."""

from __future__ import annotations

import json
import subprocess
import sys

from kstreamy import App
from kstreamy.savepoint.partitioner import murmur2_partition
from kstreamy.savepoint.reader import Savepoint
from kstreamy.savepoint.state_view import StateView
from kstreamy.serde import IntSerde, StrSerde
from kstreamy.state.session_store import SessionStore
from kstreamy.state.window_store import WindowStore
from kstreamy.windows import Session, Tumbling
from tests_support.savepoints import write_store_savepoint

APP_MODULE = """
from kstreamy import App
from kstreamy.windows import Session, Tumbling

app = App("window-export")
grouped = app.stream("in", key_serde="str", value_serde="json").group_by_key()
grouped.window(Tumbling(10.0)).count(store="per-10s").emit_final().to("out")
grouped.window(Session(5.0)).count(store="sessions").to("out-sessions")
"""

# (key, start, end, count): tumbling windows of 10 s, sessions of any length (end inclusive).
WINDOWS = [("alice", 0, 10_000, 3), ("alice", 20_000, 30_000, 1), ("bob", -10_000, 0, 7)]
SESSIONS = [("alice", 1_000, 1_000, 1), ("alice", 9_000, 15_500, 4), ("bob", -500, 200, 2)]


def build_app() -> App:
    app = App("window-export")
    grouped = app.stream("in", key_serde="str", value_serde="json").group_by_key()
    grouped.window(Tumbling(10.0)).count(store="per-10s").emit_final().to("out")
    grouped.window(Session(5.0)).count(store="sessions").to("out-sessions")
    return app


class DictTxn(dict):
    def put(self, key: bytes, value: bytes) -> None:
        self[key] = value

    def items(self, start=None, end=None):  # type: ignore[override]
        for key in sorted(self.keys()):
            if (start is None or key >= start) and (end is None or key < end):
                yield key, self[key]


def _savepoint(tmp_path, partitions: int = 2) -> str:
    stores: dict[str, dict[int, DictTxn]] = {"per-10s": {}, "sessions": {}}
    raw = StrSerde().serialize
    for key, start, _, count in WINDOWS:
        txn = stores["per-10s"].setdefault(murmur2_partition(raw(key), partitions), DictTxn())
        WindowStore(txn, 10_000).put(raw(key), start, IntSerde().serialize(count))
        WindowStore(txn, 10_000).put_meta(b"swept", b"\x00" * 8)
    for key, start, end, count in SESSIONS:
        txn = stores["sessions"].setdefault(murmur2_partition(raw(key), partitions), DictTxn())
        SessionStore(txn).put(raw(key), start, end, IntSerde().serialize(count))
    entries = {s: {p: dict(t) for p, t in by.items()} for s, by in stores.items()}
    return write_store_savepoint(tmp_path / "sp", build_app(), entries, partitions)


def _windows(entries) -> list[tuple[str, int, int | None, int]]:
    return sorted(
        (e["key"], e["window"]["start_ms"], e["window"].get("end_ms"), e["value"]) for e in entries
    )


def test_window_and_session_entries_decode_to_key_value_start_and_end(tmp_path):
    savepoint = Savepoint.open(_savepoint(tmp_path))
    topology = build_app().topology
    assert _windows(StateView(savepoint, "per-10s", topology).entries()) == sorted(WINDOWS)
    assert _windows(StateView(savepoint, "sessions", topology).entries()) == sorted(SESSIONS)
    # Without the application, the window size is unknown: start only (key and value decode
    # with the built-in serdes the manifest names).
    plain = _windows(StateView(savepoint, "per-10s").entries())
    assert plain == sorted((k, s, None, n) for k, s, _, n in WINDOWS)
    # Looking up one key finds its windows, and only its windows.
    view = StateView(savepoint, "sessions", topology)
    assert _windows(view.lookup(view.parse_key("alice"))) == sorted(SESSIONS[:2])
    view = StateView(savepoint, "per-10s", topology)
    assert _windows(view.lookup(view.parse_key("bob"))) == [WINDOWS[2]]
    assert view.lookup(view.parse_key("carol")) == []


def test_export_command_writes_windows_as_json_lines(tmp_path):
    path = _savepoint(tmp_path)
    (tmp_path / "winapp.py").write_text(APP_MODULE)
    for store, want in (("per-10s", WINDOWS), ("sessions", SESSIONS)):
        out = tmp_path / f"{store}.jsonl"
        result = subprocess.run(
            [sys.executable, "-m", "kstreamy_cli", "savepoint", "export", path,
             "--store", store, "--format", "jsonl", "--app", "winapp:app", "-o", str(out)],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert _windows(lines) == sorted(want)
        assert all(e["timestamp"] == e["window"]["start_ms"] for e in lines)
        assert {e["task"] for e in lines} <= {"0_0", "0_1"}
