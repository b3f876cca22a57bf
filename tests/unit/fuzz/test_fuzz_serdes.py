"""Every serde under garbage: random bytes, truncated encodings and wrong types raise
SerdeError (the error the bad-input policy handles), never another exception type; every
valid value survives a round trip exactly."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kstreamy.errors import SerdeError
from kstreamy.serde import AvroSerde, BytesSerde, IntSerde, JsonSerde, StrSerde
from kstreamy.state.join_records import JoinRecords, JoinRecordsSerde
from kstreamy.windowed_serde import SessionWindowedSerde, TimeWindowedSerde, WindowedJsonSerde
from kstreamy.windows import Windowed
from tests_support.fuzzing import FEW

AVRO_SCHEMA = {
    "type": "record",
    "name": "Reading",
    "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "value", "type": "double"},
        {"name": "count", "type": "long"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}

SERDES: dict[str, Any] = {
    "str": StrSerde(),
    "int": IntSerde(),
    "json": JsonSerde(),
    "avro": AvroSerde(AVRO_SCHEMA),
    "time-windowed(str)": TimeWindowedSerde("str", 60_000),
    "time-windowed(int)": TimeWindowedSerde("int", 1_000),
    "session-windowed(json)": SessionWindowedSerde("json"),
    "windowed-json": WindowedJsonSerde(),
    "join-records(json)": JoinRecordsSerde(JsonSerde()),
}
"""Every serde that interprets bytes (the bytes serde accepts all bytes by design)."""

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
JSON_SCALARS = (
    st.none() | st.booleans() | LONGS | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
AVRO_VALUES = st.fixed_dictionaries(
    {
        "sensor": st.text(),
        "value": st.floats(allow_nan=False),
        "count": LONGS,
        "tags": st.lists(st.text(), max_size=3),
        "note": st.none() | st.text(),
    }
)
WINDOWS = st.tuples(LONGS, LONGS).map(sorted)


def _garbage_is_refused_or_read(serde: Any, data: bytes) -> None:
    """Reading garbage either gives a value or a SerdeError; any other exception escapes."""
    try:
        serde.deserialize(data)
    except SerdeError as exc:
        assert str(exc), "a SerdeError must say what was wrong"


@pytest.mark.parametrize("name", sorted(SERDES))
@FEW
@given(data=st.binary(max_size=64))
def test_random_bytes_are_read_or_refused_with_a_serde_error(name: str, data: bytes) -> None:
    _garbage_is_refused_or_read(SERDES[name], data)


@pytest.mark.parametrize("name", sorted(SERDES))
@FEW
@given(value=st.none() | st.integers() | st.floats() | st.text() | st.lists(st.integers()))
def test_values_of_the_wrong_type_are_refused_with_a_serde_error(name: str, value: Any) -> None:
    serde = SERDES[name]
    try:
        raw = serde.serialize(value)
    except SerdeError as exc:
        assert str(exc)
        return
    # Accepted: then it must read back (not necessarily identical: JSON turns NaN into null).
    serde.deserialize(raw)


@FEW
@given(data=st.binary(max_size=32))
def test_bytes_round_trip_and_the_bytes_serde_refuses_non_bytes(data: bytes) -> None:
    serde = BytesSerde()
    assert serde.deserialize(serde.serialize(data)) == data
    with pytest.raises(SerdeError, match="expects bytes"):
        serde.serialize(data.hex())


@FEW
@given(text=st.text())
def test_str_round_trips_and_invalid_utf8_names_the_encoding(text: str) -> None:
    serde = StrSerde()
    assert serde.deserialize(serde.serialize(text)) == text
    with pytest.raises(SerdeError, match="UTF-8"):
        serde.deserialize(text.encode() + b"\xff")


@FEW
@given(number=LONGS, cut=st.integers(min_value=0, max_value=7))
def test_int_round_trips_and_truncated_ints_name_the_length(number: int, cut: int) -> None:
    serde = IntSerde()
    raw = serde.serialize(number)
    assert serde.deserialize(raw) == number
    with pytest.raises(SerdeError, match="8 bytes"):
        serde.deserialize(raw[:cut])
    with pytest.raises(SerdeError, match="64-bit"):
        serde.serialize(2**63 + abs(number))


@FEW
@given(value=JSON_VALUES)
def test_json_round_trips_exactly(value: Any) -> None:
    serde = JsonSerde()
    assert serde.deserialize(serde.serialize(value)) == value


@FEW
@given(value=JSON_VALUES.filter(lambda v: isinstance(v, (dict, list))), data=st.data())
def test_truncated_json_is_a_serde_error(value: Any, data: st.DataObject) -> None:
    raw = JsonSerde().serialize(value)
    cut = data.draw(st.integers(min_value=1, max_value=len(raw) - 1))
    with pytest.raises(SerdeError, match="invalid JSON"):
        JsonSerde().deserialize(raw[:cut])


@pytest.mark.parametrize("depth", [1_100, 5_000, 100_000])
def test_json_nested_deeper_than_the_stack_is_a_serde_error(depth: int) -> None:
    with pytest.raises(SerdeError, match="invalid JSON"):
        JsonSerde().deserialize(b"[" * depth + b"]" * depth)


@FEW
@given(value=AVRO_VALUES, data=st.data())
def test_avro_round_trips_exactly_and_truncation_is_a_serde_error(
    value: dict[str, Any], data: st.DataObject
) -> None:
    serde = SERDES["avro"]
    raw = serde.serialize(value)
    assert serde.deserialize(raw) == value
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(SerdeError, match="invalid Avro data"):
        serde.deserialize(raw[:cut])
    with pytest.raises(SerdeError, match="trailing bytes"):
        serde.deserialize(raw + b"\x00")


@FEW
@given(value=AVRO_VALUES, field=st.sampled_from(["sensor", "value", "count", "tags"]))
def test_avro_values_missing_a_field_or_of_the_wrong_type_are_refused(
    value: dict[str, Any], field: str
) -> None:
    serde = SERDES["avro"]
    with pytest.raises(SerdeError, match="Avro schema"):
        serde.serialize({k: v for k, v in value.items() if k != field})
    with pytest.raises(SerdeError, match="Avro schema"):
        serde.serialize({**value, field: object()})


@FEW
@given(key=st.text(), window=WINDOWS, cut=st.integers(min_value=0, max_value=7))
def test_time_windowed_keys_round_trip_and_short_keys_are_refused(
    key: str, window: list[int], cut: int
) -> None:
    serde = TimeWindowedSerde("str", 1_000)
    start = min(window[0], 2**63 - 1 - 1_000)
    windowed = Windowed.from_ms(key, start, start + 1_000)
    assert serde.deserialize(serde.serialize(windowed)) == windowed
    with pytest.raises(SerdeError, match="at least 8 bytes"):
        serde.deserialize(struct.pack(">q", start)[:cut])


@FEW
@given(key=JSON_VALUES, window=WINDOWS, cut=st.integers(min_value=0, max_value=15))
def test_session_windowed_keys_round_trip_and_short_keys_are_refused(
    key: Any, window: list[int], cut: int
) -> None:
    serde = SessionWindowedSerde("json")
    windowed = Windowed.from_ms(key, *window)
    raw = serde.serialize(windowed)
    if key is None:  # a null inner key is written as no bytes, and no bytes is not JSON
        return
    assert serde.deserialize(raw) == windowed
    with pytest.raises(SerdeError, match="at least 16 bytes"):
        serde.deserialize(raw[-16:][:cut])


@FEW
@given(key=JSON_VALUES, window=WINDOWS)
def test_windowed_json_keys_round_trip_exactly(key: Any, window: list[int]) -> None:
    serde = WindowedJsonSerde()
    windowed = Windowed.from_ms(key, *window)
    assert serde.deserialize(serde.serialize(windowed)) == windowed


BAD_WINDOW_FIELDS = st.sampled_from(
    [
        b'{"key":1,"start_ms":1e400,"end_ms":1}',
        b'{"key":1,"start":1e400,"end":1}',
        b'{"key":1,"start":1e306,"end":1e306}',
        b'{"key":1,"start":NaN,"end":1}',
        b'{"key":1,"start_ms":"5","end_ms":9}',
        b'{"key":1,"start_ms":1.5,"end_ms":9}',
        b'{"key":1,"start_ms":true,"end_ms":9}',
        b'{"key":1,"start_ms":99999999999999999999999,"end_ms":1}',
        b'{"key":1,"start_ms":5}',
        b'{"key":1,"start":2,"end":1}',
        b'{"start":1,"end":2}',
        b'"start_ms key"',
        b'["start_ms", "key"]',
    ]
)


@FEW
@given(data=BAD_WINDOW_FIELDS)
def test_windowed_json_with_bad_fields_is_a_serde_error(data: bytes) -> None:
    with pytest.raises(SerdeError, match="windowed JSON key"):
        WindowedJsonSerde().deserialize(data)


JOINED_VALUES = JSON_VALUES.filter(lambda v: v is not None)
"""A join skips records with a null value, so no join store entry holds one."""


@FEW
@given(
    values=st.lists(JOINED_VALUES, min_size=1, max_size=4), matched=st.booleans(), data=st.data()
)
def test_join_records_round_trip_and_truncation_is_a_serde_error(
    values: list[Any], matched: bool, data: st.DataObject
) -> None:
    serde = SERDES["join-records(json)"]
    records = JoinRecords(matched, values)
    raw = serde.serialize(records)
    assert serde.deserialize(raw) == records
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    try:
        serde.deserialize(raw[:cut])
    except SerdeError as exc:
        assert "join store entry" in str(exc) or "invalid JSON" in str(exc)


def test_nan_is_read_as_json_reads_it() -> None:
    assert math.isnan(JsonSerde().deserialize(b"NaN"))


@FEW
@given(value=AVRO_VALUES, data=st.binary(max_size=40))
def test_registry_avro_round_trips_and_garbage_is_a_serde_error(
    value: dict[str, Any], data: bytes
) -> None:
    from kstreamy.serde_registry import avro_registry

    serde = avro_registry("mock://fuzz-serdes", AVRO_SCHEMA).for_topic("readings", is_key=False)
    assert serde.deserialize(serde.serialize(value)) == value
    _garbage_is_refused_or_read(serde, data)
    _garbage_is_refused_or_read(serde, b"\x00\x00\x00\x00\x01" + data)


@pytest.mark.parametrize("strategy", [3, None, b"topic", ["topic"]])
def test_a_registry_strategy_that_is_neither_name_nor_function_is_a_config_error(
    strategy: Any,
) -> None:
    from kstreamy.errors import ConfigError
    from kstreamy.serde_registry import avro_registry

    with pytest.raises(ConfigError, match="subject_name_strategy must be"):
        avro_registry("mock://fuzz-serdes", AVRO_SCHEMA, subject_name_strategy=strategy)
