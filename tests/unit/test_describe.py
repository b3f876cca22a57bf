"""describe(): the Mermaid flowchart shows the same graph as the IR, and stays well-formed."""

from __future__ import annotations

import re

import pytest

from kstreamy import App, TopologyError

DECLARATION = re.compile(r'^\s*(\w+)(\(\["|\["|\[\("|\[/")(.*?)("\]\)|"\]|"\)\]|"/\])$')
EDGE = re.compile(r"^\s*(\w+) (-->|-\.-|-\.->) (\w+)$")


def _word_count_app() -> App:
    app = App("wc")
    (
        app.stream("lines", value_serde="str", name="lines")
        .flat_map(lambda k, line: [(w, w) for w in line.split()], name="split")
        .group_by_key(name="words", key_serde="str", value_serde="str")
        .count(store="counts")
        .to("word-counts", value_serde="int", name="out")
    )
    return app


class Chart:
    """The parts of a Mermaid flowchart the tests look at."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.labels: dict[tuple[str, str], str] = {}  # (label, what) -> id
        self.shapes: dict[str, str] = {}  # id -> opening bracket
        self.subgraph_of: dict[str, str | None] = {}
        self.edges: set[tuple[str, str, str]] = set()
        self.classes: dict[str, str] = {}  # id -> class
        subgraph = None
        for line in self.lines:
            stripped = line.strip()
            if stripped.startswith("subgraph "):
                assert subgraph is None, "nested subgraph"
                subgraph = stripped.split()[1]
            elif stripped == "end":
                assert subgraph is not None, "end without subgraph"
                subgraph = None
            elif match := DECLARATION.match(line):
                node_id, opening, label, _ = match.groups()
                assert node_id not in self.shapes, f"{node_id} declared twice"
                what = {'[/"': "topic", '[("': "store"}.get(opening, "step")
                self.labels[(label.split("<br/>")[0], what)] = node_id
                self.shapes[node_id] = opening
                self.subgraph_of[node_id] = subgraph
            elif match := EDGE.match(line):
                self.edges.add(match.groups())
            elif stripped.startswith("class "):
                _, ids, name = stripped.split()
                for node_id in ids.split(","):
                    self.classes[node_id] = name
        assert subgraph is None, "subgraph not closed"

    def id(self, label: str, what: str = "step") -> str:
        """The id of the step, topic or store shown as ``label``."""
        return self.labels[(label, what)]


def test_mermaid_has_a_subgraph_per_subtopology_with_its_processors_and_stores():
    chart = Chart(_word_count_app().describe(format="mermaid"))
    assert chart.lines[:4] == ["---", "title: wc", "---", "flowchart LR"]
    assert [line.strip() for line in chart.lines if line.strip().startswith("subgraph")] == [
        'subgraph sub0 ["Sub-topology 0"]',
        'subgraph sub1 ["Sub-topology 1"]',
    ]
    placed = {label: chart.subgraph_of[node_id] for label, node_id in chart.labels.items()}
    assert placed == {
        ("lines", "step"): "sub0",
        ("split", "step"): "sub0",
        ("words-repartition-sink", "step"): "sub0",
        ("words-repartition-source", "step"): "sub1",
        ("counts", "step"): "sub1",
        ("counts", "store"): "sub1",
        ("out", "step"): "sub1",
        ("lines", "topic"): None,
        ("wc-words-repartition", "topic"): None,
        ("word-counts", "topic"): None,
        ("wc-counts-changelog", "topic"): None,
    }
    assert chart.shapes[chart.id("lines")] == '(["'  # sources and sinks are stadiums
    assert chart.shapes[chart.id("split")] == '["'


def test_mermaid_edges_follow_records_through_topics_stores_and_changelogs():
    app = App("edges")
    table = app.table("users", name="users", key_serde="str", value_serde="json")
    clicks = app.stream("clicks", key_serde="str", value_serde="json", name="click-source")
    clicks.join(table, lambda c, u: c, name="enrich").to("enriched", name="enriched-sink")
    chart = Chart(app.describe(format="mermaid"))
    store = chart.id("users", "store")
    changelog = chart.id("edges-users-changelog", "topic")
    assert {
        (chart.id("clicks", "topic"), "-->", chart.id("click-source")),
        (chart.id("click-source"), "-->", chart.id("enrich")),
        (chart.id("enrich"), "-->", chart.id("enriched-sink")),
        (chart.id("enriched-sink"), "-->", chart.id("enriched", "topic")),
        (chart.id("users", "topic"), "-->", chart.id("users-source")),
        (chart.id("users-source"), "-->", chart.id("users")),
        (chart.id("users"), "-.-", store),
        (chart.id("enrich"), "-.-", store),
        (store, "-.->", changelog),
    } == chart.edges
    assert chart.classes[changelog] == "changelog"
    assert chart.classes[store] == "store"
    assert chart.classes[chart.id("enriched", "topic")] == "topic"


def test_mermaid_marks_repartition_topics_and_links_subtopologies_through_them():
    chart = Chart(_word_count_app().describe(format="mermaid"))
    topic = chart.id("wc-words-repartition", "topic")
    assert chart.classes[topic] == "repartition"
    assert (chart.id("words-repartition-sink"), "-->", topic) in chart.edges
    assert (topic, "-->", chart.id("words-repartition-source")) in chart.edges
    for a, _, b in chart.edges:
        assert a in chart.shapes and b in chart.shapes, "edge to an undeclared id"


def test_mermaid_labels_are_escaped():
    app = App("escapes")
    app.stream("in", name='say "hi" <b>&#</b>').to("out")
    text = app.describe(format="mermaid")
    assert '(["say #quot;hi#quot; #lt;b#gt;#amp;#35;#lt;/b#gt;"])' in text
    Chart(text)


def test_describe_rejects_unknown_formats():
    app = App("formats")
    app.stream("in").to("out")
    with pytest.raises(TopologyError, match="unknown describe format 'svg'; known: text, mermaid"):
        app.describe(format="svg")
    assert app.describe(format="text") == app.describe()
