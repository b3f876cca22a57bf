"""Windowed key serdes: Kafka Streams byte layouts and the JSON form."""

from __future__ import annotations

import struct

import pytest

from kstreamy.errors import SerdeError
from kstreamy.windowed_serde import SessionWindowedSerde, TimeWindowedSerde, WindowedJsonSerde
from kstreamy.windows import Windowed


def test_time_windowed_layout_is_kafka_streams() -> None:
    serde = TimeWindowedSerde("str", window_size_ms=60_000)
    key = Windowed.from_ms("sensor-1", 120_000, 180_000)
    raw = serde.serialize(key)
    # TimeWindowedSerializer: inner key bytes, then the start as a big-endian long.
    assert raw == b"sensor-1" + struct.pack(">q", 120_000)
    assert serde.deserialize(raw) == key
    assert serde.name == "time-windowed(str)"


def test_time_windowed_negative_start_and_int_keys() -> None:
    serde = TimeWindowedSerde("int", window_size_ms=10)
    key = Windowed.from_ms(-7, -10, 0)
    raw = serde.serialize(key)
    assert raw == struct.pack(">qq", -7, -10)
    assert serde.deserialize(raw) == key


@pytest.mark.parametrize(
    ("inner", "key"),
    [("str", "k"), ("str", ""), ("str", None), ("json", {"a": [1, 2]}), ("bytes", b"\x00k")],
)
def test_time_windowed_fast_path_writes_what_the_inner_serde_writes(inner, key) -> None:
    serde = TimeWindowedSerde(inner, window_size_ms=10)
    raw = serde.serialize(Windowed.from_ms(key, -20, -10))
    assert raw == (serde.inner.serialize(key) or b"") + struct.pack(">q", -20)


def test_time_windowed_errors_still_name_the_problem() -> None:
    serde = TimeWindowedSerde("str", window_size_ms=10)
    with pytest.raises(SerdeError, match="str serde expects str"):
        serde.serialize(Windowed.from_ms(5, 0, 10))
    with pytest.raises(SerdeError, match="expects a Windowed key"):
        serde.serialize(("k", 0, 10))


def test_session_windowed_layout_is_kafka_streams() -> None:
    serde = SessionWindowedSerde("str")
    key = Windowed.from_ms("user", 1_000, 5_000)
    raw = serde.serialize(key)
    # SessionKeySchema: key, end, start.
    assert raw == b"user" + struct.pack(">qq", 5_000, 1_000)
    assert serde.deserialize(raw) == key


def test_json_form() -> None:
    serde = WindowedJsonSerde()
    key = Windowed.from_ms({"id": 3}, 1_500, 2_500)
    raw = serde.serialize(key)
    assert raw is not None
    assert b'"start":1.5' in raw and b'"end":2.5' in raw and b'"start_ms":1500' in raw
    assert serde.deserialize(raw) == key
    # Written by hand, seconds only:
    assert serde.deserialize(b'{"key":"a","start":1.0,"end":2.0}') == Windowed("a", 1.0, 2.0)


@pytest.mark.parametrize(
    "serde", [TimeWindowedSerde("bytes", 5), SessionWindowedSerde("bytes"), WindowedJsonSerde()]
)
def test_none_passes_through_and_bad_input_is_a_serde_error(serde) -> None:
    assert serde.serialize(None) is None
    assert serde.deserialize(None) is None
    with pytest.raises(SerdeError):
        serde.serialize("not windowed")
    with pytest.raises(SerdeError):
        serde.deserialize(b"\x00")
    if isinstance(serde, WindowedJsonSerde):
        with pytest.raises(SerdeError):
            serde.deserialize(b"[1, 2]")
        with pytest.raises(SerdeError):
            serde.deserialize(b'{"key": 1}')


def test_time_windowed_needs_a_size() -> None:
    with pytest.raises(ValueError):
        TimeWindowedSerde("str", 0)
