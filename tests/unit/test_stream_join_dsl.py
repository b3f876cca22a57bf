"""Stream-stream joins in the DSL: join windows, what the IR gets, and the errors users see."""

from __future__ import annotations

import pytest

from kstreamy import App, TopologyError
from kstreamy.serde import resolve_serde
from kstreamy.state.join_records import JoinRecords, JoinRecordsSerde
from kstreamy.topic_plan import plan_topics
from kstreamy.windows import InvalidWindowError, JoinWindows


def _streams(app_id: str = "j"):
    app = App(app_id)
    left = app.stream("left", key_serde="str", value_serde="json")
    right = app.stream("right", key_serde="str", value_serde="json")
    return app, left, right


def test_join_windows_are_symmetric_with_of_and_asymmetric_with_before_and_after():
    symmetric = JoinWindows.of(5.0, grace=1.5)
    assert (symmetric.before_ms, symmetric.after_ms, symmetric.grace_ms) == (5000, 5000, 1500)
    assert symmetric.span_ms == 10000
    # A left record at 10 s closes once the watermark is past 15 s + grace.
    assert symmetric.close_time(10000) == 10000 + 5000 + 1 + 1500
    only_later = JoinWindows(before=0.0, after=2.0)
    assert only_later.close_time(0, left=True) == 2001
    assert only_later.close_time(0, left=False) == 1  # a right record looks only back
    shifted = JoinWindows(before=-5.0, after=10.0)  # right records 5 to 10 s after the left
    assert (shifted.before_ms, shifted.after_ms, shifted.span_ms) == (-5000, 10000, 5000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"before": -5.0, "after": 4.0}, "must not be negative"),
        ({"before": 1.0, "after": 1.0, "grace": -1.0}, "grace must be zero or positive"),
        ({"before": 0.0001, "after": 1.0}, "whole number of milliseconds"),
        ({"before": "5", "after": 1.0}, "must be a number of seconds"),
    ],
)
def test_impossible_join_windows_are_refused(kwargs, message):
    with pytest.raises(InvalidWindowError, match=message):
        JoinWindows(**kwargs)


def test_a_stream_join_is_two_side_steps_and_two_window_stores_in_one_subtopology():
    app, left, right = _streams()
    left.outer_join(right, lambda a, b: [a, b], name="pairs", window=JoinWindows.of(5)).to("out")
    topology = app.topology
    assert {"pairs-this", "pairs-other"} <= set(topology.stores)
    for store in ("pairs-this", "pairs-other"):
        spec = topology.stores[store]
        assert spec.kind == "window" and spec.changelog
        assert spec.changelog_topic("j") == f"j-{store}-changelog"
    assert topology.nodes["pairs-this-join"].params["side"] == "this"
    assert topology.nodes["pairs-other-join"].params["side"] == "other"
    assert topology.nodes["pairs"].parents == ["pairs-this-join", "pairs-other-join"]
    [sub] = topology.subtopologies()
    assert sub.source_topics == ["left", "right"]
    assert topology.uses_event_time()
    text = app.describe()
    assert "stores: [pairs-this, pairs-other], outer join, side: this" in text


def test_joined_inputs_must_be_copartitioned():
    app, left, right = _streams()
    left.join(right, lambda a, b: a, name="j", window=JoinWindows.of(1)).to("out")
    assert plan_topics(app.topology, {"left": 4, "right": 4}).partitions == {0: 4}
    with pytest.raises(TopologyError, match=r"left \(4\), right \(3\)"):
        plan_topics(app.topology, {"left": 4, "right": 3})


def test_a_side_that_changed_keys_is_repartitioned_to_the_other_sides_partitions():
    app, left, right = _streams("rekey")
    rekeyed = left.map(lambda k, v: (v["user"], v))
    rekeyed.left_join(right, lambda a, b: a, name="j", window=JoinWindows.of(1)).to("out")
    topic = "rekey-j-left-repartition"
    assert app.topology.internal_topics()[topic] == "repartition"
    join_sub = next(s for s in app.topology.subtopologies() if "j-this" in s.store_names)
    assert join_sub.source_topics == sorted([topic, "right"])
    plan = plan_topics(app.topology, {"left": 2, "right": 6})
    assert plan.internal[topic][0] == 6


ONE_SECOND = JoinWindows.of(1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "j"}, "needs window=JoinWindows"),
        ({"window": ONE_SECOND}, "needs name="),
        ({"how": "full", "name": "j", "window": ONE_SECOND}, "how must be one of"),
        ({"joiner": "nope", "name": "j", "window": ONE_SECOND}, "joiner function"),
    ],
)
def test_stream_join_mistakes_are_reported_when_building(kwargs, message):
    _, left, right = _streams()
    kwargs = dict(kwargs)
    joiner = kwargs.pop("joiner", lambda a, b: a)
    with pytest.raises(TopologyError, match=message):
        left.join(right, joiner, **kwargs)


def test_table_joins_take_no_window_and_have_no_outer_variant():
    app, left, _ = _streams()
    table = app.table("rows", name="rows", key_serde="str", value_serde="json")
    with pytest.raises(TopologyError, match="window= and late_topic= are for stream-stream"):
        left.join(table, lambda a, b: a, window=JoinWindows.of(1))
    with pytest.raises(TopologyError, match="outer_join needs a Stream"):
        left.outer_join(table, lambda a, b: a, name="x")
    with pytest.raises(TopologyError, match="join needs a Table or a Stream"):
        left.join(42, lambda a, b: a)


def test_two_joins_cannot_share_a_name():
    _, left, right = _streams()
    left.join(right, lambda a, b: a, name="j", window=JoinWindows.of(1))
    with pytest.raises(TopologyError, match="'j-this' already exists"):
        left.join(right, lambda a, b: a, name="j", window=JoinWindows.of(1))


def test_store_entries_decode_with_the_sides_value_serde():
    serde = JoinRecordsSerde(resolve_serde("json"))
    entry = JoinRecords(True, [{"a": 1}, [2]])
    raw = serde.serialize(entry)
    assert serde.deserialize(raw) == entry
    assert serde.deserialize(None) is None
    assert serde.name == "join-records(json)"
