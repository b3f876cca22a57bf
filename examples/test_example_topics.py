"""Each example's docstring says how to create every topic it reads and writes."""

import importlib
import re

import pytest

EXAMPLES = [
    "word_count",
    "order_routing",
    "click_enrichment",
    "deduplicate",
    "sensors",
    "conversion",
    "fraud_fsm",
    "streaming_etl",
]


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_docstring_creates_every_topic_the_app_uses(name):
    module = importlib.import_module(name)
    created = set()
    for line in re.findall(r"kstreamy topics create ([^\n]+)", module.__doc__):
        assert "--partitions" in line
        created |= {word for word in line.split() if not word.startswith("-")}
    topology = module.app.topology
    used = set(topology.external_source_topics())
    used |= {
        n.params["topic"]
        for n in topology.nodes.values()
        if n.kind == "sink" and not n.params.get("internal")
    }
    assert used <= created, f"not created in the docstring: {used - created}"
