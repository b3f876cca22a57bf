"""A sink reuses the key bytes a store step just wrote, and only when they are the right bytes."""

from __future__ import annotations

from typing import Any

import pytest

from kstreamy import App, StrSerde
from kstreamy.testing import TestDriver


class CountingStrSerde(StrSerde):
    """The str serde, counting how often it serializes."""

    def __init__(self) -> None:
        self.serialized = 0

    def serialize(self, value: Any) -> bytes | None:
        self.serialized += 1
        return super().serialize(value)


class UpperSerde(StrSerde):
    """Other bytes for the same key: reusing the store's bytes with it would be wrong."""

    def serialize(self, value: Any) -> bytes | None:
        return value.upper().encode()

    def deserialize(self, data: bytes | None) -> Any:
        return data.decode()


@pytest.mark.parametrize(
    "aggregation",
    [
        lambda g: g.count(store="agg"),
        lambda g: g.reduce(lambda a, v: a + v, store="agg"),
        lambda g: g.aggregate(lambda: "", lambda k, v, a: a + v, store="agg"),
    ],
    ids=["count", "reduce", "aggregate"],
)
def test_aggregation_then_to_serializes_each_key_once(aggregation):
    keys = CountingStrSerde()
    app = App("reuse")
    grouped = app.stream("in", key_serde="str", value_serde="str").group_by_key(key_serde=keys)
    aggregation(grouped).to("out", value_serde="json")
    driver = TestDriver(app)
    for key in ("a", "b", "a"):
        driver.pipe("in", key, "x")
    outputs = driver.records("out")
    assert [r.raw_key for r in outputs] == [b"a", b"b", b"a"]
    assert keys.serialized == 3  # once per record, for the store; the sink reused the bytes


def test_a_sink_with_another_serde_serializes_the_key_itself():
    app = App("other-serde")
    counts = app.stream("in", key_serde="str", value_serde="str").group_by_key().count(store="c")
    counts.to("upper", key_serde=UpperSerde(), value_serde="int")
    counts.to("plain", value_serde="int")
    driver = TestDriver(app)
    driver.pipe("in", "ab", "x")
    assert [r.raw_key for r in driver.records("upper")] == [b"AB"]
    assert [r.raw_key for r in driver.records("plain")] == [b"ab"]
    assert dict(driver.store("c").items()) == {"ab": 1}


def test_a_key_changed_after_the_store_step_is_serialized_again():
    keys = CountingStrSerde()
    app = App("new-key")
    counts = app.stream("in", key_serde="str", value_serde="str").group_by_key(key_serde=keys)
    rekeyed = counts.count(store="c").to_stream().map(lambda k, v: (k + "!", v))
    rekeyed.to("out", value_serde="int")
    driver = TestDriver(app)
    driver.pipe("in", "a", "x")
    driver.pipe("in", "a", "x")
    outputs = driver.records("out")
    assert [(r.raw_key, r.value) for r in outputs] == [(b"a!", 1), (b"a!", 2)]
    assert keys.serialized == 4  # the store's key and the new key, per record
