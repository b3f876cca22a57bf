"""Straight chains of simple steps run as one generated function, with the chain's semantics."""

import traceback

import pytest

from kstreamy import App, RecordError
from kstreamy.runtime.compiler import compile_subtopology
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.fusion import fuse
from kstreamy.testing import TestDriver


class _ListEmitter:
    def __init__(self) -> None:
        self.records: list[tuple] = []

    def emit(self, topic, key, value, timestamp_ms, headers=None, partition=None) -> None:
        self.records.append((topic, key, value))


def _entry(app: App):
    (sub,) = app.topology.subtopologies()
    compiled = compile_subtopology(sub, RecordContext(), _ListEmitter())
    (entry,) = compiled.entries.values()
    return entry


def test_a_straight_chain_becomes_one_function_ending_in_the_sink():
    app = App("fusion")
    seen = []
    (
        app.stream("in", value_serde="int")
        .filter(lambda k, v: v > 0)
        .map(lambda k, v: (k, v + 1))
        .map_values(lambda v: v * 10)
        .peek(lambda k, v: seen.append(v))
        .to("out", value_serde="int")
    )
    entry = _entry(app)
    steps, tail = entry._kstreamy_chain
    assert [kind for kind, _ in steps] == ["filter", "map", "map_values", "peek"]
    assert entry.__name__ == "chain_filter_map_map_values_peek"
    assert tail.__name__ == "sink"


def test_fused_steps_run_in_order_and_a_failed_filter_ends_the_record():
    app = App("fusion")
    calls = []

    def keep(k, v):
        calls.append(("filter", v))
        return v % 2 == 0

    def remap(k, v):
        calls.append(("map", v))
        return k.upper(), v + 1

    def look(k, v):
        calls.append(("peek", k, v))

    stream = app.stream("in", key_serde="str", value_serde="int")
    stream.filter(keep).map(remap).peek(look).map_values(lambda v: v * 10).to("out")
    driver = TestDriver(app)
    for i in range(4):
        driver.pipe("in", f"k{i}", i)
    assert driver.read("out") == [("K0", 10), ("K2", 30)]
    assert calls == [
        ("filter", 0),
        ("map", 0),
        ("peek", "K0", 1),
        ("filter", 1),
        ("filter", 2),
        ("map", 2),
        ("peek", "K2", 3),
        ("filter", 3),
    ]


def test_a_step_with_two_children_feeds_both_and_each_branch_is_its_own_chain():
    app = App("fusion")
    doubled = app.stream("in", value_serde="int").map_values(lambda v: v * 2)
    doubled.filter(lambda k, v: v > 2).to("big", value_serde="int")
    doubled.map_values(lambda v: -v).to("negated", value_serde="int")
    driver = TestDriver(app)
    for v in (1, 2):
        driver.pipe("in", None, v)
    assert [v for _, v in driver.read("big")] == [4]
    assert [v for _, v in driver.read("negated")] == [-2, -4]
    steps, _ = _entry(app)._kstreamy_chain
    assert [kind for kind, _ in steps] == ["map_values"]  # not fused past the fan-out


def test_foreach_ends_a_chain_without_a_tail():
    app = App("fusion")
    got = []
    app.stream("in", value_serde="int").map_values(lambda v: v + 1).foreach(
        lambda k, v: got.append(v)
    )
    driver = TestDriver(app)
    driver.pipe("in", None, 1)
    driver.pipe("in", None, 5)
    assert got == [2, 6]
    steps, tail = _entry(app)._kstreamy_chain
    assert [kind for kind, _ in steps] == ["map_values", "foreach"] and tail is None


def test_an_error_in_a_fused_step_names_the_record_and_shows_the_user_frame():
    app = App("fusion")

    def explode(v):
        raise ValueError(f"cannot take {v}")

    app.stream("in", value_serde="int").filter(lambda k, v: True).map_values(explode).to("out")
    driver = TestDriver(app)
    with pytest.raises(RecordError) as caught:
        driver.pipe("in", None, 7)
    message = str(caught.value)
    assert "cannot take 7" in message and "topic=in" in message and "offset=0" in message
    frames = traceback.extract_tb(caught.value.__cause__.__traceback__)
    assert [f.name for f in frames][-2:] == ["chain_filter_map_values", "explode"]


def test_fuse_rejects_a_kind_without_an_inline_statement():
    with pytest.raises(Exception, match="'branch' has no inline statement"):
        fuse([("branch", lambda k, v: None)], None)
