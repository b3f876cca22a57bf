"""The registry of node kinds: every kind compiles, and a new kind is one entry."""

from __future__ import annotations

from typing import Any

import pytest

from kstreamy import App, StoreSpec, Stream, TopologyError
from kstreamy import kinds as kinds_module
from kstreamy.kinds import NodeKind, all_kinds, kind_of, register
from kstreamy.runtime.compiler import compile_function
from kstreamy.testing import TestDriver


def test_every_registered_kind_names_a_loadable_compile_function():
    names = [kind.name for kind in all_kinds()]
    assert {"source", "sink", "map", "aggregate", "process", "branch"} <= set(names)
    for name in names:
        assert callable(compile_function(name)), name


def test_the_dsl_builds_only_registered_kinds():
    app = App("all-kinds")
    stream = app.stream("in", key_serde="str", value_serde="json")
    table = app.table("rows", name="rows", key_serde="str", value_serde="json")
    joined = stream.join(table, lambda v, row: v).filter(lambda k, v: True)
    counts = joined.group_by_key().count(store="counts")
    counts.join(table, lambda a, b: a, name="both").to_stream("changes").to("out")
    kinds = {node.kind for node in app.topology.nodes.values()}
    assert kinds <= {kind.name for kind in all_kinds()}
    assert {"stream_table_join", "table_join_side", "to_stream"} <= kinds


def test_unknown_kinds_fail_when_added_naming_the_known_ones():
    app = App("unknown-kind")
    source = app.stream("in")
    with pytest.raises(TopologyError, match=r"unknown node kind 'explode'; known: .*map"):
        app.topology.add("explode", [source.node])


def test_the_ir_refuses_unnamed_steps_that_hold_state():
    app = App("names")
    source = app.stream("in")
    app.topology.add_store(StoreSpec("s", "json", "json"))
    with pytest.raises(TopologyError, match="a process step needs an explicit name"):
        app.topology.add("process", [source.node], {"function": None, "stores": ["s"]})
    app.topology.add("process", [source.node], {"function": None, "stores": []})
    with pytest.raises(TopologyError, match="a reduce step needs an explicit name"):
        app.topology.add("reduce", [source.node], {"store": "s", "reducer": max})


def test_registering_a_kind_twice_or_without_a_module_reference_fails():
    with pytest.raises(TopologyError, match="'map' is already registered"):
        register(NodeKind("map", "somewhere:else", ""))
    with pytest.raises(TopologyError, match="compile must be 'module:function'"):
        register(NodeKind("nowhere", "compile_nowhere", ""))


def test_stores_and_topics_are_read_from_the_params_the_kind_names():
    join_side = kind_of("table_join_side")
    assert join_side.stores({"own_store": "a", "other_store": "b"}) == ["a", "b"]
    assert kind_of("process").stores({"stores": ["x", "y"]}) == ["x", "y"]
    assert kind_of("process").stores({}) == []
    assert kind_of("source").topics({"topics": ["t1", "t2"]}) == ["t1", "t2"]
    assert kind_of("sink").topics({"topic": "out"}) == ["out"]
    assert kind_of("map").topics({"fn": len}) == []


def compile_shout(compiler: Any, node: Any, downstream: Any) -> Any:
    """The compile function of the test's own kind: upper-case values, counting into a store."""
    txn = compiler.transaction(node.params["tally"])

    def shout(key: Any, value: Any) -> None:
        raw = txn.get(b"n")
        txn.put(b"n", str(int(raw or b"0") + 1).encode())
        downstream(key, value.upper())

    return shout


def test_a_new_kind_is_one_registry_entry(monkeypatch):
    shout = NodeKind(
        "shout",
        f"{__name__}:compile_shout",
        "tally: a store counting the records",
        store_params=("tally",),
        needs_name=True,
        describe=lambda params: f"tally in {params['tally']}",
    )
    monkeypatch.setitem(kinds_module._KINDS, "shout", shout)
    app = App("shouting")
    source = app.stream("in", value_serde="str")
    app.topology.add_store(StoreSpec("tally", "bytes", "bytes"))
    with pytest.raises(TopologyError, match="a shout step needs an explicit name"):
        app.topology.add("shout", [source.node], {"tally": "tally"})
    node = app.topology.add("shout", [source.node], {"tally": "tally"}, "loud")
    Stream(app.topology, node.name, source.key_serde, source.value_serde).to("out")

    assert app.topology.subtopologies()[0].store_names == ["tally"]
    assert "    Processor: loud [shout] (tally in tally)" in app.describe()
    driver = TestDriver(app)
    driver.pipe("in", None, "hey")
    driver.pipe("in", None, "you")
    assert driver.read("out") == [(None, "HEY"), (None, "YOU")]
    assert dict(driver.store("tally").items()) == {b"n": b"2"}
