import pytest

from kstreamy import AvroSerde, ConfigError, IntSerde, SerdeError
from kstreamy.serde import resolve_serde

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
