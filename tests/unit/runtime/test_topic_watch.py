"""Which topics a running instance keeps an eye on, and the partition counts it expects."""

from kstreamy import App
from kstreamy.kafka.topics import output_topics
from kstreamy.runtime.topic_watch import WatchedTopic, _about_unknown_topic, watched_topics
from kstreamy.topic_plan import plan_topics


def test_inputs_internal_topics_and_outputs_are_watched_with_their_planned_counts():
    app = App("watch", bootstrap_servers="127.0.0.1:1")
    stream = app.stream("orders", key_serde="str", value_serde="json")
    stream.filter(lambda k, v: True).to("copies")
    regrouped = stream.group_by(lambda k, v: v["region"], name="by-region", key_serde="str")
    regrouped.count(store="per-region").to("counts", value_serde="int")
    topology = app.topology
    plan = plan_topics(topology, {"orders": 6})
    watched = {w.name: w for w in watched_topics(topology, plan, output_topics(topology))}
    assert watched["orders"] == WatchedTopic("orders", "input", 6)
    assert watched["watch-by-region-repartition"] == WatchedTopic(
        "watch-by-region-repartition", "repartition", 6
    )
    assert watched["watch-per-region-changelog"] == WatchedTopic(
        "watch-per-region-changelog", "changelog", 6
    )
    # An output's partition count is its owner's to change: only its deletion matters.
    assert watched["copies"] == WatchedTopic("copies", "output", None)
    assert watched["counts"] == WatchedTopic("counts", "output", None)


def test_only_errors_about_unknown_topics_are_explained():
    assert _about_unknown_topic(RuntimeError("Commit failed: Broker: Unknown topic or partition"))
    assert _about_unknown_topic(RuntimeError("topic=out partition=0: Local: Unknown partition"))
    assert not _about_unknown_topic(RuntimeError("Broker: Not coordinator"))
