"""``partitions=`` on repartitioning steps: the aggregation after it runs on that many tasks."""

from __future__ import annotations

import pytest

from kstreamy import App
from kstreamy.errors import TopologyError
from kstreamy.testing import TestDriver
from kstreamy.topic_plan import plan_topics


def _app(**group_options) -> App:
    app = App("rp")
    (
        app.stream("in", key_serde="str", value_serde="json")
        .group_by(lambda k, v: v["user"], name="by-user", key_serde="str", **group_options)
        .count(store="per-user")
        .to("out", value_serde="int")
    )
    return app


def test_a_repartition_topic_takes_the_given_count():
    plan = plan_topics(_app(partitions=12).topology, {"in": 3})
    assert plan.internal["rp-by-user-repartition"][0] == 12
    assert plan.internal["rp-per-user-changelog"][0] == 12
    assert sorted(plan.partitions.values()) == [3, 12]


def test_without_it_the_input_count_is_kept():
    plan = plan_topics(_app().topology, {"in": 3})
    assert plan.internal["rp-by-user-repartition"][0] == 3


def test_group_by_key_with_partitions_repartitions_and_needs_a_name():
    app = App("rp")
    stream = app.stream("in", key_serde="str", value_serde="json")
    with pytest.raises(TopologyError, match="needs name="):
        stream.group_by_key(partitions=4)
    stream.group_by_key(name="wide", partitions=8).count(store="c").to("out", value_serde="int")
    plan = plan_topics(app.topology, {"in": 2})
    assert plan.internal["rp-wide-repartition"][0] == 8


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_a_bad_count_is_a_clear_error(bad):
    with pytest.raises(TopologyError, match="partitions must be a positive int"):
        _app(partitions=bad)


def test_results_do_not_depend_on_the_count():
    driver = TestDriver(_app(partitions=7))
    for i in range(20):
        driver.pipe("in", f"e{i}", {"user": f"u{i % 3}"})
    assert dict(driver.store("per-user").items()) == {"u0": 7, "u1": 7, "u2": 6}
