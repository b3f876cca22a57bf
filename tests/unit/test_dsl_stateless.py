"""Stateless DSL semantics, run through the broker-free TestDriver."""

import time

import pytest

from kstreamy import App, RecordError, TopologyError
from kstreamy.testing import TestDriver


def _app(**config) -> App:
    return App("dsl-test", **config)


def test_map_filter_map_values_and_to():
    app = _app()
    (
        app.stream("in", key_serde="str", value_serde="int")
        .filter(lambda k, v: v % 2 == 0)
        .map(lambda k, v: (k.upper(), v))
        .map_values(lambda v: v * 10)
        .to("out")
    )
    driver = TestDriver(app)
    for i in range(5):
        driver.pipe("in", f"k{i}", i, timestamp=100 + i)
    records = driver.records("out")
    assert [(r.key, r.value) for r in records] == [("K0", 0), ("K2", 20), ("K4", 40)]
    assert [r.timestamp for r in records] == [100, 102, 104]  # event time is kept


def test_filter_not_flat_map_and_flat_map_values():
    app = _app()
    stream = app.stream("in", key_serde="str", value_serde="str")
    stream.filter_not(lambda k, v: v == "").flat_map(
        lambda k, v: [(word, k) for word in v.split()]
    ).to("words")
    stream.flat_map_values(lambda v: list(v)).to("chars")
    driver = TestDriver(app)
    driver.pipe("in", "line1", "a b")
    driver.pipe("in", "line2", "")
    assert driver.read("words") == [("a", "line1"), ("b", "line1")]
    assert driver.read("chars") == [("line1", "a"), ("line1", " "), ("line1", "b")]


def test_split_routes_to_the_first_matching_branch_and_default():
    app = _app()
    branches = (
        app.stream("in", value_serde="int")
        .split()
        .branch(lambda k, v: v > 10, name="big")
        .branch(lambda k, v: v > 5, name="medium")
        .default_branch(name="small")
    )
    for name, stream in branches.items():
        stream.to(name)
    driver = TestDriver(app)
    for v in (1, 7, 11, 20):
        driver.pipe("in", None, v)
    assert [v for _, v in driver.read("big")] == [11, 20]
    assert [v for _, v in driver.read("medium")] == [7]
    assert [v for _, v in driver.read("small")] == [1]


def test_branch_without_default_drops_unmatched():
    app = _app()
    evens, odds = app.stream("in", value_serde="int").branch(
        lambda k, v: v % 2 == 0, lambda k, v: v % 2 == 1 and v > 1
    )
    evens.to("evens")
    odds.to("odds")
    driver = TestDriver(app)
    for v in range(5):
        driver.pipe("in", None, v)
    assert [v for _, v in driver.read("evens")] == [0, 2, 4]
    assert [v for _, v in driver.read("odds")] == [3]


def test_merge_peek_and_foreach():
    app = _app()
    seen, done = [], []
    a = app.stream("a", value_serde="str")
    b = app.stream("b", value_serde="str")
    merged = a.merge(b).peek(lambda k, v: seen.append(v))
    merged.to("out")
    merged.foreach(lambda k, v: done.append(v))
    driver = TestDriver(app)
    driver.pipe("a", None, "1")
    driver.pipe("b", None, "2")
    assert [v for _, v in driver.read("out")] == ["1", "2"]
    assert seen == done == ["1", "2"]


def test_sink_serdes_default_to_the_stream_and_can_be_overridden():
    app = _app()
    stream = app.stream("in", key_serde="str", value_serde="json")
    stream.to("same")
    stream.map_values(lambda v: v["n"]).to("as-int", value_serde="int")
    driver = TestDriver(app)
    driver.pipe("in", "k", {"n": 3})
    assert driver.records("same")[0].raw_value == b'{"n":3}'
    assert driver.records("as-int")[0].raw_value == (3).to_bytes(8, "big")


def test_timestamp_extractor_sets_event_time_in_seconds():
    app = _app()
    app.stream("in", value_serde="json", timestamp=lambda k, v, ts: v["ts"]).to("out")
    driver = TestDriver(app)
    driver.pipe("in", None, {"ts": 1700000000.25}, timestamp=5)
    assert driver.records("out")[0].timestamp == 1700000000.25


def test_output_topic_read_by_the_topology_is_fed_back():
    app = _app()
    app.stream("in", value_serde="int").map_values(lambda v: v + 1).to("mid")
    app.stream("mid", value_serde="int").map_values(lambda v: v * 2).to("out")
    driver = TestDriver(app)
    driver.pipe("in", None, 1)
    assert driver.read("out") == [(None, 4)]


def test_processing_error_policies():
    def boom(v):
        if v == 2:
            raise ValueError("two is not allowed")
        return v

    for policy in ("fail", "skip", "dead_letter"):
        app = _app(on_processing_error=policy)
        app.stream("in", value_serde="int").map_values(boom).to("out")
        driver = TestDriver(app)
        driver.pipe("in", None, 1)
        if policy == "fail":
            with pytest.raises(
                RecordError,
                match="processing failed at topic=in partition=0 "
                "offset=1: ValueError: two is not allowed",
            ):
                driver.pipe("in", None, 2)
            continue
        driver.pipe("in", None, 2, timestamp=1_000.5)
        driver.pipe("in", None, 3)
        assert [v for _, v in driver.read("out")] == [1, 3]
        if policy == "skip":
            assert driver.metrics.records_skipped == 1
            assert driver.dead_letters == []
        else:
            [dead] = driver.dead_letters
            assert dead.raw_value == (2).to_bytes(8, "big")
            headers = dict(dead.headers)
            assert headers["kstreamy.error.offset"] == b"1"
            assert headers["kstreamy.error.class"] == b"ValueError"
            # The record's own time travels in a header; the dead letter is stamped now, so
            # the topic's time retention counts from when it was dead-lettered.
            assert headers["kstreamy.error.timestamp_ms"] == b"1000500"
            assert abs(dead.timestamp - time.time()) < 60


def test_deserialization_error_names_the_field():
    app = _app()
    app.stream("in", key_serde="int", value_serde="json").to("out")
    driver = TestDriver(app)
    with pytest.raises(RecordError, match="deserialization of key failed at topic=in"):
        driver.pipe_raw("in", b"short", b"{}")
    with pytest.raises(RecordError, match=r"deserialization of value failed .* invalid JSON"):
        driver.pipe_raw("in", (1).to_bytes(8, "big"), b"{")


def test_serialization_error_on_output_names_the_topic():
    app = _app()
    app.stream("in", value_serde="str").to("out", value_serde="int")
    driver = TestDriver(app)
    with pytest.raises(RecordError, match="serializing the value for topic out"):
        driver.pipe("in", None, "x")


def test_building_errors_are_clear():
    app = _app()
    with pytest.raises(TopologyError, match="no source"):
        app.describe()
    stream = app.stream("in")
    with pytest.raises(TopologyError, match="needs a function"):
        stream.map("not callable")
    with pytest.raises(TopologyError, match="read by two sources"):
        app.stream("in")
        app.describe()
    with pytest.raises(TopologyError, match="duplicate node name 'x'"):
        stream.filter(bool, name="x").filter(bool, name="x")
    with pytest.raises(TopologyError, match="duplicate branch name"):
        stream.split().branch(bool, name="a").branch(bool, name="a")


def test_a_record_that_stops_the_instance_says_how_to_get_past_it():
    app = _app()
    app.stream("in", value_serde="json").map_values(lambda v: 1 / v).to("out")
    driver = TestDriver(app)
    with pytest.raises(RecordError) as bad_json:
        driver.pipe_raw("in", None, b"{")
    assert "set on_deserialization_error to 'skip' or 'dead_letter'" in str(bad_json.value)
    assert "--set on_deserialization_error=dead_letter" in str(bad_json.value)
    assert "KSTREAMY_ON_DESERIALIZATION_ERROR=dead_letter" in str(bad_json.value)
    with pytest.raises(RecordError) as division:
        driver.pipe("in", None, 0)
    assert "KSTREAMY_ON_PROCESSING_ERROR=dead_letter" in str(division.value)
