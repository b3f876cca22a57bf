"""Damaged savepoints: every field removed or of another type, manifests cut short, bytes
flipped in any file. Opening and verifying must raise a SavepointError naming the field or
file, never another exception, and must leave every file of the savepoint as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kstreamy.savepoint import (
    Savepoint,
    SavepointCorruptedError,
    SavepointError,
    SavepointFormatError,
)
from kstreamy.savepoint.snapshot import write_records
from tests_support.fuzzing import FEW, SOME, tree_digest
from tests_support.savepoints import write_counts_savepoint

IN_FLIGHT = "in_flight/sp-app-repartition/0.jsonl"

LENIENT = (
    ("kstreamy_version",),
    ("topology_description",),
    ("metadata",),
    ("key_serde",),
    ("value_serde",),
    ("topics", "*", "*"),
    ("changelog_topic",),
    ("writes_repartition",),
    ("path",),
    ("sha256",),
)
"""Fields a reader does not need (free text, metadata handed back to the application) or
whose absence the file checks catch: removing or retyping these may be accepted."""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid savepoint with two store files and one in-flight file."""
    root = tmp_path_factory.mktemp("savepoints")
    location = Path(write_counts_savepoint(root, {f"k{i}": i for i in range(12)}))
    ref = write_records(
        [(b"k1", b"v1", 1_000, [("h", b"x")]), (None, None, 2_000, [])],
        location / IN_FLIGHT,
        IN_FLIGHT,
    )
    manifest = location / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["in_flight"] = {"sp-app-repartition": {"0": ref.__dict__}}
    manifest.write_text(json.dumps(doc, indent=1, sort_keys=True))
    Savepoint.open(location).verify()
    return location


@pytest.fixture
def savepoint(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy per test; each example restores what it damaged."""
    return Path(shutil.copytree(pristine, tmp_path / "sp"))


def _paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        path = (*prefix, str(key))
        out.append(path)
        out.extend(_paths(value, path))
    return out


def _parent(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def _lenient(path: tuple[str, ...]) -> bool:
    """Whether the field at ``path`` is one a reader may do without."""
    for pattern in LENIENT:
        if len(pattern) == 1 and pattern[0] in path:
            return True
        if len(path) >= len(pattern) and all(
            p in ("*", k) for p, k in zip(pattern, path, strict=False)
        ):
            return True
    # Unknown list items and dict entries inside an optional field are as lenient as it is.
    return False


def _open_and_verify(location: Path) -> Savepoint:
    before = tree_digest(location)
    try:
        savepoint = Savepoint.open(location, "sp-app")
        savepoint.verify()
        for topic, parts in savepoint.manifest.in_flight.items():
            for partition in parts:
                list(savepoint.in_flight(topic, partition))
        return savepoint
    finally:
        assert tree_digest(location) == before, "reading a savepoint changed its files"


def _check_damaged(location: Path, manifest: bytes, named: list[str]) -> SavepointError | None:
    """Write ``manifest``, open and verify: a SavepointError naming one of ``named`` or
    success; the original manifest is put back either way."""
    path = location / "manifest.json"
    original = path.read_bytes()
    path.write_bytes(manifest)
    try:
        _open_and_verify(location)
    except SavepointError as exc:
        text = str(exc)
        assert str(location) in text or "manifest" in text, text
        assert any(name in text for name in named), f"{named} not named in: {text}"
        return exc
    finally:
        path.write_bytes(original)
    return None


def _doc(location: Path) -> dict[str, Any]:
    return json.loads((location / "manifest.json").read_text())


OTHER_TYPES = st.sampled_from(
    [None, True, 0, -1, 2**70, 1.5, float("nan"), "", "x", "../../etc", "\0", [], [1], {}, {"a": 1}]
)


@SOME
@given(data=st.data())
def test_a_removed_field_is_named(savepoint: Path, data: st.DataObject) -> None:
    doc = _doc(savepoint)
    path = data.draw(st.sampled_from(_paths(doc)))
    parent = _parent(doc, path)
    if isinstance(parent, list):
        del parent[int(path[-1])]
    else:
        del parent[path[-1]]
    error = _check_damaged(savepoint, json.dumps(doc).encode(), [*path, "manifest.json"])
    if error is None:
        assert _lenient(path) or _is_entry(doc, path), f"removing {path} was accepted"


def _is_entry(doc: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Removing one entry of a collection (a task, a store, an offset, a list item) leaves a
    valid, smaller manifest; the application check (not tested here) is what refuses it."""
    collections = ("tasks", "stores", "topics", "input_offsets", "changelog_offsets", "in_flight")
    return (
        path[-2:-1] in [(c,) for c in collections]
        or path[0] == "in_flight"
        or isinstance(_parent(doc, path), list)
        or (path[0] == "subtopologies" and len(path) == 2)
    )


@settings(SOME, max_examples=SOME.max_examples * 3)
@given(data=st.data(), value=OTHER_TYPES)
def test_a_field_of_another_type_is_named(savepoint: Path, data: st.DataObject, value: Any) -> None:
    doc = _doc(savepoint)
    path = data.draw(st.sampled_from(_paths(doc)))
    parent = _parent(doc, path)
    key: Any = int(path[-1]) if isinstance(parent, list) else path[-1]
    old = parent[key]
    if type(old) is type(value) or (value is None and path[-2:-1] == ("input_offsets",)):
        return  # not another type, or a valid one (None: nothing committed)
    parent[key] = value
    error = _check_damaged(savepoint, json.dumps(doc).encode(), [*path, "manifest.json"])
    if error is None:
        assert _lenient(path), f"{path} = {value!r} was accepted"


@FEW
@given(cut=st.integers(min_value=0, max_value=4_000))
def test_a_truncated_manifest_is_refused(savepoint: Path, cut: int) -> None:
    raw = (savepoint / "manifest.json").read_bytes()
    error = _check_damaged(savepoint, raw[: cut % len(raw)], ["manifest"])
    assert isinstance(error, SavepointFormatError)


@FEW
@given(garbage=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_a_manifest_of_garbage_is_refused(savepoint: Path, garbage: bytes) -> None:
    error = _check_damaged(savepoint, garbage, ["manifest"])
    assert isinstance(error, SavepointFormatError)


@pytest.mark.parametrize("depth", [1_100, 100_000])
def test_a_manifest_nested_deeper_than_the_stack_is_refused(savepoint: Path, depth: int) -> None:
    error = _check_damaged(savepoint, b"[" * depth, ["manifest"])
    assert isinstance(error, SavepointFormatError)


@SOME
@given(data=st.data())
def test_a_flipped_byte_in_the_manifest_is_refused_or_harmless(
    savepoint: Path, data: st.DataObject
) -> None:
    raw = bytearray((savepoint / "manifest.json").read_bytes())
    at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    _check_damaged(savepoint, bytes(raw), ["manifest", "field", "damaged", "leaves", "application"])


@SOME
@given(data=st.data())
def test_a_flipped_byte_in_a_data_file_names_the_file(savepoint: Path, data: st.DataObject) -> None:
    files = sorted(str(p.relative_to(savepoint)) for p in savepoint.rglob("*.*[!n]"))
    files = [f for f in files if f != "manifest.json"]
    rel = data.draw(st.sampled_from(files))
    path = savepoint / rel
    original = path.read_bytes()
    damaged = bytearray(original)
    at = data.draw(st.integers(min_value=0, max_value=len(damaged) - 1))
    damaged[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    path.write_bytes(bytes(damaged))
    try:
        with pytest.raises(SavepointCorruptedError, match=f"{rel} checksum mismatch"):
            _open_and_verify(savepoint)
    finally:
        path.write_bytes(original)


def test_a_missing_or_cut_data_file_is_named(savepoint: Path) -> None:
    (savepoint / IN_FLIGHT).write_bytes((savepoint / IN_FLIGHT).read_bytes()[:-3])
    sst = next(savepoint.glob("tasks/0_0/*.sst"))
    sst.unlink()
    with pytest.raises(SavepointCorruptedError) as caught:
        _open_and_verify(savepoint)
    assert "tasks/0_0/counts.sst is missing" in str(caught.value)
    assert f"{IN_FLIGHT} has" in str(caught.value)


JSON_LINES = st.sampled_from(
    [
        b"{}",
        b"[]",
        b'{"key":null,"value":null}',
        b'{"key":"!!","value":null,"timestamp":1}',
        b'{"key":null,"value":null,"timestamp":"soon"}',
        b'{"key":null,"value":null,"timestamp":1,"headers":[1]}',
        b'{"key":null,"value":null,"timestamp":1,"headers":{"a":"b"}}',
        b'{"key":5,"value":null,"timestamp":1}',
        b"[" * 5000,
    ]
)


@FEW
@given(lines=st.lists(st.binary(max_size=60) | JSON_LINES, min_size=1, max_size=3))
def test_garbage_in_flight_records_behind_a_matching_checksum_name_the_line(
    savepoint: Path, lines: list[bytes]
) -> None:
    """A manifest rewritten to match a garbage file (the checksum cannot help): reading the
    records names the file and line, never a KeyError or binascii error."""
    import hashlib

    body = b"\n".join(lines) + b"\n"
    path = savepoint / IN_FLIGHT
    original = path.read_bytes()
    doc = _doc(savepoint)
    ref = doc["in_flight"]["sp-app-repartition"]["0"]
    ref.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    path.write_bytes(body)
    try:
        _check_damaged(savepoint, json.dumps(doc).encode(), ["line"])
    finally:
        path.write_bytes(original)
