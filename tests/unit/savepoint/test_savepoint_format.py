"""The savepoint format: write, read back, verify, and refuse damaged savepoints clearly."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from kstreamy.savepoint import (
    Savepoint,
    SavepointCorruptedError,
    SavepointError,
    SavepointFormatError,
    list_savepoints,
)
from kstreamy.savepoint.snapshot import read_records, write_records
from kstreamy.serde import IntSerde, StrSerde
from tests_support.savepoints import write_counts_savepoint

COUNTS = {f"k{i}": i * 3 for i in range(50)}


def _decoded(savepoint: Savepoint) -> dict[str, int]:
    out = {}
    for tid in savepoint.tasks_with_store("counts"):
        for key, value in savepoint.store_entries(tid, "counts"):
            out[StrSerde().deserialize(key)] = IntSerde().deserialize(value)
    return out


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_written_savepoint_reads_back_exactly(tmp_path):
    location = write_counts_savepoint(tmp_path, COUNTS)
    savepoint = Savepoint.open(location, "sp-app")
    assert savepoint.verify() > 0
    assert _decoded(savepoint) == COUNTS
    manifest = savepoint.manifest
    assert manifest.format_version == 1
    assert set(manifest.tasks) == {"0_0", "0_1"}
    assert manifest.tasks["0_1"].watermarks == {"in": 1001}
    assert manifest.stores["counts"].kind == "key_value"
    assert manifest.stores["counts"].key_serde == {"name": "str"}
    assert manifest.stores["counts"].value_serde == {"name": "int"}
    assert manifest.stores["counts"].key_layout == "record_key"
    assert manifest.topics["sp-app-counts-changelog"] == {"partitions": 2, "role": "changelog"}
    assert not list(Path(location).glob("**/*.tmp"))


def test_an_empty_store_has_no_file(tmp_path):
    location = write_counts_savepoint(tmp_path, {})
    savepoint = Savepoint.open(location)
    savepoint.verify()
    assert all(t.stores["counts"].path is None for t in savepoint.manifest.tasks.values())
    assert _decoded(savepoint) == {}


def test_savepoints_are_listed_oldest_first(tmp_path):
    first = write_counts_savepoint(tmp_path, COUNTS)
    (tmp_path / "not-a-savepoint").mkdir()
    second = write_counts_savepoint(tmp_path, {"a": 1})
    listed = list_savepoints(tmp_path)
    assert sorted(s.location for s in listed) == sorted([first, second])
    assert all(s.manifest is not None for s in listed)


def _damage(location: str, how: str) -> None:
    path = Path(location)
    sst = next(path.glob("tasks/*/counts.sst"))
    manifest = path / "manifest.json"
    if how == "checksum":
        data = bytearray(sst.read_bytes())
        data[len(data) // 2] ^= 0xFF
        sst.write_bytes(bytes(data))
    elif how == "missing-file":
        sst.unlink()
    elif how == "other-application":
        doc = json.loads(manifest.read_text())
        doc["application_id"] = "someone-else"
        manifest.write_text(json.dumps(doc))
    elif how == "unknown-version":
        doc = json.loads(manifest.read_text())
        doc["format_version"] = 99
        manifest.write_text(json.dumps(doc))
    elif how == "truncated-manifest":
        manifest.write_bytes(manifest.read_bytes()[:200])
    elif how == "no-manifest":
        manifest.unlink()


@pytest.mark.parametrize(
    ("how", "error", "message"),
    [
        ("checksum", SavepointCorruptedError, "checksum mismatch"),
        ("missing-file", SavepointCorruptedError, "is missing"),
        ("other-application", SavepointError, "belongs to application 'someone-else'"),
        ("unknown-version", SavepointFormatError, "format version 99 is not supported"),
        ("truncated-manifest", SavepointFormatError, "not valid JSON (truncated or damaged?)"),
        ("no-manifest", SavepointFormatError, "no manifest.json"),
    ],
)
def test_a_damaged_savepoint_is_a_clear_error_and_nothing_changes(tmp_path, how, error, message):
    location = write_counts_savepoint(tmp_path, COUNTS)
    _damage(location, how)
    before = _fingerprint(tmp_path)
    with pytest.raises(error, match=re.escape(message)) as info:
        Savepoint.open(location, "sp-app").verify()
    assert location in str(info.value)
    assert _fingerprint(tmp_path) == before


def test_a_missing_manifest_field_is_named(tmp_path):
    location = write_counts_savepoint(tmp_path, COUNTS)
    manifest = Path(location) / "manifest.json"
    doc = json.loads(manifest.read_text())
    del doc["tasks"]["0_1"]["input_offsets"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(SavepointFormatError, match=r"tasks\.0_1\.input_offsets is missing"):
        Savepoint.open(location)


def test_paths_may_not_leave_the_savepoint(tmp_path):
    location = write_counts_savepoint(tmp_path, COUNTS)
    manifest = Path(location) / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["tasks"]["0_0"]["stores"]["counts"]["path"] = "../../etc/passwd"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(SavepointError, match="leaves the savepoint"):
        Savepoint.open(location).verify()


def test_object_storage_is_not_supported_yet(tmp_path):
    with pytest.raises(SavepointError, match="s3:// storage is not supported yet"):
        Savepoint.open("s3://bucket/savepoints/x")


def test_in_flight_records_round_trip(tmp_path):
    records = [
        (b"k", b"v", 1700000000000, [("h", b"1")]),
        (None, None, 5, []),
        (b"\x00\xff", b"", 7, [("a", b""), ("b", b"\x01")]),
    ]
    ref = write_records(records, tmp_path / "r.jsonl", "r.jsonl")
    assert ref.entries == 3
    assert list(read_records(tmp_path / "r.jsonl")) == records


FIXTURE = Path(__file__).parent / "fixtures" / "savepoint-v1"


def test_format_version_1_stays_readable():
    """A savepoint written by format version 1, kept in the repository: every later reader
    must still read it (the compatibility promise of docs/savepoint-format.md)."""
    savepoint = Savepoint.open(FIXTURE, "sp-app")
    savepoint.verify()
    assert _decoded(savepoint) == {"a": 1, "b": 2, "d": 3, "long-key-" * 4: 2**40}
    assert savepoint.manifest.tasks["0_0"].input_offsets == {"in": 0}
