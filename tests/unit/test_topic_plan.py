"""Sizing sub-topologies and internal topics from the IR (no broker)."""

import pytest

from kstreamy import App, ProcessFunction, StoreSpec, TopologyError
from kstreamy.topic_plan import REPARTITION_TOPIC_CONFIG, plan_topics

COMPACT = {"cleanup.policy": "compact"}
REPARTITION = REPARTITION_TOPIC_CONFIG


class _Noop(ProcessFunction):
    def process(self, key, value, ctx):
        pass


def test_stateless_topology_has_no_internal_topics():
    app = App("plan")
    app.stream("in").to("out")
    plan = plan_topics(app.topology, {"in": 6})
    assert plan.partitions == {0: 6}
    assert plan.internal == {}
    assert plan.lead_topic == {0: "in"}
    assert plan.copartitioned == {0: []}


def test_repartition_topic_is_sized_from_upstream_and_changelog_per_subtopology():
    app = App("plan")
    app.stream("words", key_serde="str", value_serde="str").group_by(
        lambda k, v: v, name="by-word"
    ).count(name="counts").to("out")
    plan = plan_topics(app.topology, {"words": 4})
    assert plan.partitions == {0: 4, 1: 4}
    assert plan.internal == {
        "plan-by-word-repartition": (4, REPARTITION),
        "plan-counts-changelog": (4, COMPACT),
    }
    assert plan.lead_topic == {0: "words", 1: "plan-by-word-repartition"}
    assert plan.copartitioned == {0: [], 1: []}


def test_independent_subtopologies_are_sized_separately():
    app = App("plan")
    app.stream("a", key_serde="str").group_by_key().count(name="a-counts")
    app.stream("b", key_serde="str").group_by_key().count(name="b-counts")
    app.stream("c").to("c-out")
    plan = plan_topics(app.topology, {"a": 2, "b": 5, "c": 1})
    assert plan.partitions == {0: 2, 1: 5, 2: 1}
    assert plan.internal == {
        "plan-a-counts-changelog": (2, COMPACT),
        "plan-b-counts-changelog": (5, COMPACT),
    }


def test_chained_repartitions_carry_the_count_downstream():
    app = App("plan")
    app.stream("in", key_serde="str", value_serde="str").group_by(
        lambda k, v: v, name="first"
    ).count(name="first-counts").to_stream().map(lambda k, v: (str(v), k)).group_by_key(
        name="second"
    ).count(name="second-counts")
    plan = plan_topics(app.topology, {"in": 3})
    assert plan.partitions == {0: 3, 1: 3, 2: 3}
    assert plan.internal == {
        "plan-first-repartition": (3, REPARTITION),
        "plan-second-repartition": (3, REPARTITION),
        "plan-first-counts-changelog": (3, COMPACT),
        "plan-second-counts-changelog": (3, COMPACT),
    }
    assert plan.lead_topic == {0: "in", 1: "plan-first-repartition", 2: "plan-second-repartition"}


def test_stores_without_changelog_get_no_topic():
    app = App("plan")
    stream = app.stream("in", key_serde="str")
    stream.group_by_key().count(name="local-counts", changelog=False, backend="memory")
    stream.process(_Noop(), stores=[StoreSpec("scratch", "str", "json", changelog=False)], name="p")
    stream.process(_Noop(), stores=["kept"], name="q")
    plan = plan_topics(app.topology, {"in": 2})
    assert plan.internal == {"plan-kept-changelog": (2, COMPACT)}


def test_joined_inputs_are_one_subtopology_with_a_lead_topic():
    app = App("plan")
    customers = app.table("customers", name="customers", key_serde="str")
    regions = app.table("regions", name="regions", key_serde="str")
    app.stream("orders", key_serde="str").join(customers, lambda o, c: o).to("enriched")
    customers.join(regions, lambda c, r: c, name="customer-regions").materialize("cr")
    plan = plan_topics(app.topology, {"orders": 3, "customers": 3, "regions": 3})
    assert plan.partitions == {0: 3}
    assert plan.lead_topic == {0: "customers"}
    assert plan.copartitioned == {0: ["orders", "regions"]}
    assert plan.internal == {
        "plan-customers-changelog": (3, COMPACT),
        "plan-regions-changelog": (3, COMPACT),
        "plan-cr-changelog": (3, COMPACT),
    }


def test_copartitioning_mismatch_names_topics_and_counts():
    app = App("plan")
    customers = app.table("customers", name="customers", key_serde="str")
    app.stream("orders", key_serde="str").join(customers, lambda o, c: o).to("enriched")
    with pytest.raises(TopologyError) as info:
        plan_topics(app.topology, {"orders": 4, "customers": 2})
    message = str(info.value)
    assert "sub-topology 0" in message
    assert "co-partitioning" in message
    assert "customers (2), orders (4)" in message


def test_merged_stream_topics_must_be_copartitioned_for_a_store():
    app = App("plan")
    app.stream("a", key_serde="str").merge(app.stream("b", key_serde="str")).group_by_key().count(
        name="counts"
    )
    assert plan_topics(app.topology, {"a": 2, "b": 2}).copartitioned == {0: ["b"]}
    with pytest.raises(TopologyError, match=r"a \(2\), b \(3\)"):
        plan_topics(app.topology, {"a": 2, "b": 3})


def test_repartition_topic_joined_with_a_table_takes_the_table_partition_count():
    # Kafka Streams sizes a repartition topic that is co-partitioned with user topics after
    # those topics, whatever the upstream count, so the join can work.
    app = App("plan")
    customers = app.table("customers", name="customers", key_serde="str")
    app.stream("orders", key_serde="str", value_serde="json").map(
        lambda k, v: (v["customer"], v)
    ).join(customers, lambda o, c: o, name="by-customer").to("enriched")
    plan = plan_topics(app.topology, {"orders": 8, "customers": 3})
    assert plan.partitions == {0: 3, 1: 8}
    assert plan.internal["plan-by-customer-repartition"] == (3, REPARTITION)
    assert plan.internal["plan-customers-changelog"] == (3, COMPACT)
    assert plan.lead_topic == {0: "customers", 1: "orders"}
    assert plan.copartitioned == {0: ["plan-by-customer-repartition"], 1: []}


def test_missing_input_topic_count_is_named():
    app = App("plan")
    customers = app.table("customers", name="customers", key_serde="str")
    app.stream("orders", key_serde="str").join(customers, lambda o, c: o).to("enriched")
    with pytest.raises(TopologyError, match=r"no partition count for input topic\(s\): orders"):
        plan_topics(app.topology, {"customers": 2})
