"""Control-topic and reset-marker records from other processes: garbage is skipped with a
logged reason (control) or refused with an error naming the field (reset marker), and never
raises another exception type in the reader."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kstreamy.errors import KStreamyError
from kstreamy.runtime.control_topic import parse_record
from kstreamy.runtime.reset_marker import ResetMarker, parse_marker
from tests_support.fuzzing import FEW

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
VALID_CONTROL = [
    {"type": "savepoint", "id": "r1", "location": "/sp/x", "stop": False, "deadline": 1e9},
    {
        "type": "ack",
        "id": "r1",
        "task": "0_1",
        "instance": "i",
        "stores": {"counts": {"path": "a.sst", "entries": 1, "bytes": 9, "sha256": "ab"}},
        "input_offsets": {"in": 3},
        "changelog_offsets": {},
        "metadata": {},
    },
    {"type": "done", "id": "r1", "outcome": "complete"},
    {"type": "ping", "id": "r1"},
    {"type": "pong", "id": "r1", "instance": "i", "tasks": []},
]
VALID_MARKER = {
    "generation": "g1",
    "status": "complete",
    "target": "savepoint /sp/x",
    "started_at": 1.0,
    "completed_at": 2.0,
    "tasks": {"0_0": {"watermarks": {}}},
}


def _reader_sees(parsed: dict[str, Any]) -> None:
    """What the readers do with a record (savepoint hook, live savepoints, pings)."""
    kind, rid = parsed.get("type"), str(parsed.get("id", ""))
    if kind == "savepoint":
        float(parsed["deadline"]) > 0 and str(parsed["location"])
    elif kind == "ack":
        for raw in parsed["stores"].values():
            assert set(raw) == {"path", "entries", "bytes", "sha256"}
        dict(parsed["input_offsets"]), dict(parsed["changelog_offsets"]), dict(parsed["metadata"])
    assert isinstance(rid, str)


@pytest.mark.parametrize("record", VALID_CONTROL, ids=lambda r: r["type"])
def test_valid_control_records_are_read_as_written(record: dict[str, Any]) -> None:
    assert parse_record(json.dumps(record).encode()) == record


@FEW
@given(raw=st.binary(max_size=80))
def test_random_bytes_on_the_control_topic_are_skipped(raw: bytes) -> None:
    parsed = parse_record(raw)
    if parsed is not None:
        _reader_sees(parsed)


@FEW
@given(doc=JSON)
def test_arbitrary_json_on_the_control_topic_is_skipped_or_usable(doc: Any) -> None:
    parsed = parse_record(json.dumps(doc).encode())
    if parsed is not None:
        _reader_sees(parsed)


@FEW
@given(index=st.integers(0, len(VALID_CONTROL) - 1), data=st.data(), value=JSON)
def test_a_control_record_with_a_field_removed_or_retyped_is_skipped_with_a_reason(
    index: int, data: st.DataObject, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    record = json.loads(json.dumps(VALID_CONTROL[index]))
    field = data.draw(st.sampled_from(sorted(record)))
    if data.draw(st.booleans()):
        del record[field]
    else:
        record[field] = value
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kstreamy.control"):
        parsed = parse_record(json.dumps(record).encode())
    if parsed is None:
        assert "control record skipped" in caplog.text
        assert field in caplog.text or "type" in caplog.text or "not JSON" in caplog.text
    else:
        _reader_sees(parsed)


def test_control_json_nested_deeper_than_the_stack_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="kstreamy.control"):
        assert parse_record(b"[" * 100_000) is None
    assert "not JSON" in caplog.text


def test_a_valid_reset_marker_round_trips() -> None:
    marker = ResetMarker(**VALID_MARKER)
    assert parse_marker(marker.to_json(), "app-reset") == marker


@FEW
@given(raw=st.binary(max_size=80) | JSON.map(lambda d: json.dumps(d).encode()))
def test_a_garbage_reset_marker_is_an_error_naming_the_topic(raw: bytes) -> None:
    with pytest.raises(KStreamyError, match="app-reset holds an unreadable reset marker"):
        parse_marker(raw, "app-reset")


@FEW
@given(field=st.sampled_from(sorted(VALID_MARKER)), value=JSON, remove=st.booleans())
def test_a_reset_marker_with_a_field_removed_or_retyped_names_it(
    field: str, value: Any, remove: bool
) -> None:
    doc = dict(VALID_MARKER)
    if remove:
        del doc[field]
    else:
        doc[field] = value
    try:
        marker = parse_marker(json.dumps(doc).encode(), "app-reset")
    except KStreamyError as exc:
        assert field in str(exc)
        return
    # Accepted: only where the value is of the field's type.
    assert isinstance(marker.tasks, dict) and isinstance(marker.generation, str)
    assert marker.status in ("in_progress", "complete")
