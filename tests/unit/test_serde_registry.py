"""Avro with a schema registry, against confluent-kafka's in-memory registry (mock:// URLs):
the wire format bytes, subject names, schema evolution, and bad records through the policy."""

import io
import uuid

import fastavro
import pytest

from kstreamy import App, ConfigError, RecordError, SerdeError, avro_registry
from kstreamy.testing import TestDriver

ORDER_V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"}],
}
ORDER_V2 = {
    **ORDER_V1,
    "fields": [*ORDER_V1["fields"], {"name": "currency", "type": "string", "default": "EUR"}],
}


@pytest.fixture
def registry():
    """A fresh in-memory registry per test."""
    return f"mock://{uuid.uuid4().hex}"


def _avro_body(schema, value) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


def test_wire_format_is_magic_byte_schema_id_and_avro_body(registry):
    serde = avro_registry(registry, ORDER_V1).for_topic("orders", is_key=False)
    order = {"id": "o-1", "cents": 1250}
    data = serde.serialize(order)
    schema_id = serde.client.get_latest_version("orders-value").schema_id
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == schema_id
    assert data[5:] == _avro_body(ORDER_V1, order)
    assert serde.deserialize(data) == order
    assert serde.serialize(None) is None and serde.deserialize(None) is None


@pytest.mark.parametrize(
    ("strategy", "is_key", "subject"),
    [
        ("topic", False, "orders-value"),
        ("topic", True, "orders-key"),
        ("record", False, "shop.Order"),
        ("topic_record", False, "orders-shop.Order"),
    ],
)
def test_subject_name_strategies(registry, strategy, is_key, subject):
    serde = avro_registry(registry, ORDER_V1, subject_name_strategy=strategy)
    serde.for_topic("orders", is_key).serialize({"id": "o-1", "cents": 1})
    assert serde.client.get_subjects() == [subject]


def test_an_unknown_strategy_is_a_config_error(registry):
    with pytest.raises(ConfigError, match="unknown subject_name_strategy 'topics'"):
        avro_registry(registry, ORDER_V1, subject_name_strategy="topics")


def test_reader_schema_resolves_older_records_by_avro_rules(registry):
    written = (
        avro_registry(registry, ORDER_V1)
        .for_topic("orders", False)
        .serialize({"id": "o-1", "cents": 5})
    )
    reader = avro_registry(registry, reader_schema=ORDER_V2).for_topic("orders", False)
    assert reader.deserialize(written) == {"id": "o-1", "cents": 5, "currency": "EUR"}
    as_written = avro_registry(registry).for_topic("orders", False)
    assert as_written.deserialize(written) == {"id": "o-1", "cents": 5}


def test_records_that_cannot_be_read_raise_serde_error(registry):
    serde = avro_registry(registry, ORDER_V1).for_topic("orders", False)
    written = serde.serialize({"id": "o-1", "cents": 5})
    no_default = {**ORDER_V2, "fields": [*ORDER_V1["fields"], {"name": "x", "type": "int"}]}
    strict = avro_registry(registry, reader_schema=no_default).for_topic("orders", False)
    with pytest.raises(SerdeError, match="cannot read Avro record with schema id"):
        strict.deserialize(written)
    with pytest.raises(SerdeError, match="expected magic byte 00"):
        serde.deserialize(b'{"id": "o-1"}')
    with pytest.raises(SerdeError, match="schema id 999"):
        serde.deserialize(b"\x00" + (999).to_bytes(4, "big") + b"\x02")
    with pytest.raises(SerdeError, match="value of orders"):
        serde.serialize({"id": 1})


def test_a_serde_without_a_topic_cannot_write_under_a_topic_strategy(registry):
    with pytest.raises(SerdeError, match="without a topic"):
        avro_registry(registry, ORDER_V1).serialize({"id": "o-1", "cents": 1})
    by_record = avro_registry(registry, ORDER_V1, subject_name_strategy="record")
    assert by_record.deserialize(by_record.serialize({"id": "o", "cents": 1}))["id"] == "o"


def test_an_app_binds_each_source_and_sink_to_its_topic(registry):
    app = App("registry-app", on_deserialization_error="dead_letter")
    orders = app.stream("orders", key_serde="str", value_serde=avro_registry(registry, ORDER_V1))
    orders.map_values(lambda o: {**o, "currency": "USD"}).to(
        "orders-v2", value_serde=avro_registry(registry, ORDER_V2)
    )
    driver = TestDriver(app)
    driver.pipe("orders", "o-1", {"id": "o-1", "cents": 99})
    assert driver.read("orders-v2") == [("o-1", {"id": "o-1", "cents": 99, "currency": "USD"})]
    client = avro_registry(registry).client
    assert sorted(client.get_subjects()) == ["orders-v2-value", "orders-value"]

    driver.pipe_raw("orders", b"o-2", b"plain json, no schema id")
    [dead] = driver.dead_letters
    assert dict(dead.headers)["kstreamy.error.class"] == b"SerdeError"
    assert driver.read("orders-v2") == []


def test_a_bad_record_stops_the_instance_under_the_default_policy(registry):
    app = App("registry-fail")
    app.stream("orders", value_serde=avro_registry(registry, ORDER_V1)).to("out")
    with pytest.raises(RecordError, match=r"deserialization of value failed .* magic byte"):
        TestDriver(app).pipe_raw("orders", None, b"\x01\x00")
