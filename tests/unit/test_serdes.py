import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kstreamy import AvroSerde, ConfigError, IntSerde, SerdeError
from kstreamy.serde import is_identity, resolve_serde

SCHEMA = {
    "type": "record",
    "name": "Reading",
    "fields": [{"name": "sensor", "type": "string"}, {"name": "value", "type": "double"}],
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bytes", b"\x00\xff"),
        ("str", "héllo"),
        ("int", -(2**63)),
        ("int", 42),
        ("json", {"a": [1]}),
    ],
)
def test_round_trip(name, value):
    serde = resolve_serde(name)
    assert serde.deserialize(serde.serialize(value)) == value


@pytest.mark.parametrize("name", ["bytes", "str", "int", "json"])
def test_none_is_a_tombstone_for_every_serde(name):
    serde = resolve_serde(name)
    assert serde.serialize(None) is None
    assert serde.deserialize(None) is None


def test_int_is_kafka_long_big_endian():
    assert IntSerde().serialize(1) == b"\x00\x00\x00\x00\x00\x00\x00\x01"
    with pytest.raises(SerdeError, match="expects 8 bytes, got 3"):
        IntSerde().deserialize(b"abc")
    with pytest.raises(SerdeError, match="out of 64-bit range"):
        IntSerde().serialize(2**64)
    with pytest.raises(SerdeError, match="expects int, got bool"):
        IntSerde().serialize(True)


def test_bad_input_errors_say_what_is_wrong():
    with pytest.raises(SerdeError, match="invalid JSON"):
        resolve_serde("json").deserialize(b"{nope")
    with pytest.raises(SerdeError, match="not valid UTF-8"):
        resolve_serde("str").deserialize(b"\xff")
    with pytest.raises(SerdeError, match="not JSON serializable"):
        resolve_serde("json").serialize({1, 2})
    with pytest.raises(SerdeError, match="expects str, got int"):
        resolve_serde("str").serialize(5)


def test_avro_round_trip_and_errors():
    serde = AvroSerde(SCHEMA)
    record = {"sensor": "s1", "value": 2.5}
    assert serde.deserialize(serde.serialize(record)) == record
    with pytest.raises(SerdeError, match="does not match the Avro schema"):
        serde.serialize({"sensor": "s1"})
    with pytest.raises(SerdeError, match="invalid Avro data"):
        serde.deserialize(b"\x02")
    with pytest.raises(SerdeError, match="trailing bytes"):
        serde.deserialize(serde.serialize(record) + b"xx")
    with pytest.raises(ConfigError, match="invalid Avro schema"):
        AvroSerde({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]})


def test_unknown_serde_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown serde 'yaml'; known: .*json"):
        resolve_serde("yaml")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)  # no files in the tree
@given(JSON_VALUES.filter(lambda value: value is not None))  # None is a tombstone
def test_json_reads_and_writes_what_the_standard_library_does(value):
    serde = resolve_serde("json")
    stdlib_bytes = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert serde.deserialize(stdlib_bytes) == value
    written = serde.serialize(value)
    assert json.loads(written) == value
    assert serde.deserialize(written) == value


def test_json_dict_keys_that_are_not_strings_become_strings_as_with_the_stdlib():
    serde = resolve_serde("json")
    value = {7: "int", 1.5: "float", True: "bool", None: "none", "s": {2: [3]}}
    assert serde.serialize(value) == json.dumps(value, separators=(",", ":")).encode()
    assert serde.deserialize(serde.serialize(value)) == {
        "7": "int",
        "1.5": "float",
        "true": "bool",
        "null": "none",
        "s": {"2": [3]},
    }


def test_json_non_finite_numbers_are_written_as_null_and_read_from_python_producers():
    serde = resolve_serde("json")
    assert serde.serialize({"a": float("nan"), "b": float("inf")}) == b'{"a":null,"b":null}'
    read = serde.deserialize(b'{"a":NaN,"b":-Infinity}')
    assert math.isnan(read["a"]) and read["b"] == float("-inf")
    assert serde.deserialize(b'"\\ud800"') == "\ud800"


def test_json_errors_say_what_is_wrong():
    serde = resolve_serde("json")
    with pytest.raises(SerdeError, match="not JSON serializable: Integer exceeds 64-bit range"):
        serde.serialize({"n": 2**64})
    with pytest.raises(SerdeError, match=r"not JSON serializable: .*set"):
        serde.serialize([{1, 2}])
    with pytest.raises(SerdeError, match=r"invalid JSON: .*line 1 column 2"):
        serde.deserialize(b"{nope")
    with pytest.raises(SerdeError, match=r"invalid JSON: .*UTF-8"):
        serde.deserialize(b'"\xff"')


@pytest.mark.parametrize(("name", "identity"), [("bytes", True), ("str", False), ("json", False)])
def test_only_the_bytes_serde_reads_as_identity(name, identity):
    serde = resolve_serde(name)
    assert is_identity(serde) is identity
    if identity:
        raw = b"\x00raw"
        assert serde.deserialize(raw) is raw
    assert not is_identity(AvroSerde(SCHEMA))
    assert not is_identity(object())


def test_fast_paths_are_offered_only_where_they_match_the_serde():
    from kstreamy.serde import JsonSerde, StrSerde, fast_paths

    assert all(fast_paths(StrSerde()))
    assert all(fast_paths(JsonSerde()))
    assert fast_paths(resolve_serde("bytes")) == (None, None)

    class Upper(StrSerde):
        def serialize(self, value):
            return value.upper().encode()

    fast_serialize, fast_deserialize = fast_paths(Upper())
    assert fast_serialize is None  # overridden: the inherited fast path would be wrong
    assert fast_deserialize is not None


def test_the_task_falls_back_from_fast_paths_to_the_serde_for_tombstones_and_errors():
    from kstreamy import App
    from kstreamy.testing import TestDriver

    app = App("fast-paths", on_deserialization_error="dead_letter")
    app.stream("in", key_serde="str", value_serde="json").to("out", key_serde="str")
    driver = TestDriver(app)
    driver.pipe_raw("in", None, None)  # tombstone: orjson.loads(None) raises, the serde says None
    driver.pipe_raw("in", b"k", b"NaN")  # orjson rejects NaN, json reads it
    driver.pipe_raw("in", b"\xff", b"1")  # not UTF-8: the str serde's error
    out = driver.records("out")
    assert [(r.key, r.value) for r in out][:1] == [(None, None)]
    assert (out[1].key, out[1].raw_value) == ("k", b"null")  # read by json; NaN is written null
    (dead,) = driver.dead_letters
    assert dead.raw_key == b"\xff"
    assert b"not valid UTF-8" in dict(dead.headers)["kstreamy.error.message"]
