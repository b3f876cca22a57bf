"""The topology IR: a small, plain-data processor graph.

The DSL compiles into it; the runtime, the test driver and ``describe`` all read it. It holds no
Kafka objects, so it can be built, inspected and compared without a broker. Functions stay
ordinary callables in ``params``.

Node kinds and their params:

========== ==================================================================
source     topics, key_serde, value_serde, timestamp (callable or None)
map        fn(key, value) -> (key, value)
map_values fn(value) -> value
filter     fn(key, value) -> bool
flat_map   fn(key, value) -> iterable of (key, value)
peek       fn(key, value) -> None (the record passes on)
foreach    fn(key, value) -> None (terminal)
branch     predicates: list of (name, fn or None for the default branch)
merge      (no params: forwards records from all parents)
sink       topic, key_serde, value_serde
========== ==================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from kstreamy.errors import TopologyError

STATEFUL_KINDS: frozenset[str] = frozenset()
"""Kinds that hold state or create topics; they must carry a user-given name."""


@dataclasses.dataclass
class Node:
    name: str
    kind: str
    parents: list[str]
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    named_by_user: bool = False

    def describe_params(self) -> str:
        if self.kind == "source":
            return f"topics: [{', '.join(self.params['topics'])}]"
        if self.kind == "sink":
            return f"topic: {self.params['topic']}"
        if self.kind == "branch":
            return "branches: [" + ", ".join(n for n, _ in self.params["predicates"]) + "]"
        return ""


@dataclasses.dataclass
class SubTopology:
    """A connected part of the graph; its source topics are read together by one task."""

    id: int
    nodes: list[Node]

    @property
    def source_topics(self) -> list[str]:
        return sorted(t for n in self.nodes if n.kind == "source" for t in n.params["topics"])

    @property
    def sink_topics(self) -> list[str]:
        return sorted({n.params["topic"] for n in self.nodes if n.kind == "sink"})


class Topology:
    """An ordered set of nodes; names are unique and parents always come before children."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._counter = 0

    def generated_name(self, kind: str) -> str:
        self._counter += 1
        return f"{kind}-{self._counter}"

    def add(
        self,
        kind: str,
        parents: Iterable[str],
        params: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Node:
        if kind in STATEFUL_KINDS and not name:
            raise TopologyError(
                f"a {kind} step needs an explicit name=...: its store, topics and savepoint "
                "entries are derived from that name, so it must not change between versions"
            )
        node_name = name or self.generated_name(kind)
        if node_name in self.nodes:
            raise TopologyError(f"duplicate node name {node_name!r} in the topology")
        node = Node(node_name, kind, list(parents), params or {}, named_by_user=bool(name))
        for parent in node.parents:
            if parent not in self.nodes:
                raise TopologyError(f"node {node_name!r} has unknown parent {parent!r}")
        self.nodes[node_name] = node
        return node

    def children(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if name in n.parents]

    def sources(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "source"]

    def source_topics(self) -> list[str]:
        return sorted({t for n in self.sources() for t in n.params["topics"]})

    def sink_topics(self) -> list[str]:
        return sorted({n.params["topic"] for n in self.nodes.values() if n.kind == "sink"})

    def validate(self) -> None:
        if not self.sources():
            raise TopologyError("the topology has no source: call app.stream(topic) first")
        seen: dict[str, str] = {}
        for node in self.sources():
            for topic in node.params["topics"]:
                if topic in seen:
                    raise TopologyError(
                        f"topic {topic!r} is read by two sources ({seen[topic]!r} and "
                        f"{node.name!r}); read it once and reuse the stream"
                    )
                seen[topic] = node.name

    def subtopologies(self) -> list[SubTopology]:
        """Connected components in node order, numbered from 0 like Kafka Streams."""
        root: dict[str, str] = {name: name for name in self.nodes}

        def find(name: str) -> str:
            while root[name] != name:
                root[name] = root[root[name]]
                name = root[name]
            return name

        for node in self.nodes.values():
            for parent in node.parents:
                root[find(parent)] = find(node.name)
        groups: dict[str, list[Node]] = {}
        for node in self.nodes.values():
            groups.setdefault(find(node.name), []).append(node)
        return [SubTopology(i, nodes) for i, nodes in enumerate(groups.values())]

    def describe(self) -> str:
        """Human-readable text in the spirit of Kafka Streams' TopologyDescription."""
        lines = ["Topologies:"]
        for sub in self.subtopologies():
            lines.append(f"  Sub-topology: {sub.id}")
            for node in sub.nodes:
                label = {"source": "Source", "sink": "Sink"}.get(node.kind, "Processor")
                params = node.describe_params()
                kind = "" if node.kind in ("source", "sink") else f" [{node.kind}]"
                lines.append(f"    {label}: {node.name}{kind}" + (f" ({params})" if params else ""))
                children = [c.name for c in self.children(node.name)]
                lines.append(f"      --> {', '.join(children) if children else 'none'}")
                if node.parents:
                    lines.append(f"      <-- {', '.join(node.parents)}")
        return "\n".join(lines)
