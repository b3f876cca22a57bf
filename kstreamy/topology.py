"""The topology IR: a small, plain-data processor graph.

The DSL compiles into it; the runtime, the test driver and ``describe`` all read it. It holds no
Kafka objects, so it can be built, inspected and compared without a broker. Functions stay
ordinary callables in ``params``.

Node kinds, their params and everything else the layers need to know of them are declared in
``kstreamy.kinds``, the one registry of kinds.

Stores are declared once in ``Topology.stores`` and referenced by name from nodes (in the params
their kind's entry lists as ``store_params``); nodes that use one store always end up in the same
sub-topology, so one task holds the store and everything that reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from kstreamy.errors import TopologyError
from kstreamy.kinds import NodeKind, kind_of
from kstreamy.serde import resolve_serde


@dataclasses.dataclass(frozen=True)
class StoreSpec:
    """A named store: where it lives and how its keys and values are encoded.

    ``kind`` says how the store lays out its bytes: ``key_value`` (the key's bytes), ``window``
    and ``session`` (see :mod:`kstreamy.state.window_store`), ``timers``. Every kind is a byte
    key-value store underneath, changelogged and restored the same way; the kind tells readers
    (savepoints, queries) how to decode it.
    """

    name: str
    key_serde: Any
    value_serde: Any
    backend: str = "rocksdb"  # or "memory"
    changelog: bool = True
    kind: str = "key_value"

    def __post_init__(self) -> None:
        # Serdes may be given by name ("str", "json", ...), as everywhere else in the API.
        object.__setattr__(self, "key_serde", resolve_serde(self.key_serde))
        object.__setattr__(self, "value_serde", resolve_serde(self.value_serde))

    def changelog_topic(self, application_id: str) -> str | None:
        return f"{application_id}-{self.name}-changelog" if self.changelog else None


@dataclasses.dataclass
class Node:
    name: str
    kind: str
    parents: list[str]
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    named_by_user: bool = False

    @property
    def node_kind(self) -> NodeKind:
        """This node's entry in the registry of kinds."""
        return kind_of(self.kind)

    @property
    def role(self) -> str:
        """One of source, sink or processor: what the node does with topics."""
        return self.node_kind.role

    def store_names(self) -> list[str]:
        return self.node_kind.stores(self.params)

    def topics(self) -> list[str]:
        """Topics a source reads or a sink writes; empty for processors."""
        return self.node_kind.topics(self.params)

    def describe_params(self) -> str:
        return self.node_kind.description(self.params)


@dataclasses.dataclass
class SubTopology:
    """A connected part of the graph; its source topics are read together by one task."""

    id: int
    nodes: list[Node]

    @property
    def source_topics(self) -> list[str]:
        return sorted(t for n in self.nodes if n.role == "source" for t in n.topics())

    @property
    def sink_topics(self) -> list[str]:
        return sorted({t for n in self.nodes if n.role == "sink" for t in n.topics()})

    @property
    def store_names(self) -> list[str]:
        return list(dict.fromkeys(s for n in self.nodes for s in n.store_names()))


class Topology:
    """An ordered set of nodes; names are unique and parents always come before children."""

    def __init__(self, application_id: str = "app") -> None:
        self.application_id = application_id
        self.nodes: dict[str, Node] = {}
        self.stores: dict[str, StoreSpec] = {}
        self._counter = 0

    def add_store(self, spec: StoreSpec) -> StoreSpec:
        if spec.name in self.stores:
            raise TopologyError(f"duplicate store name {spec.name!r}")
        if spec.backend not in ("rocksdb", "memory"):
            raise TopologyError(f"store {spec.name!r}: backend must be 'rocksdb' or 'memory'")
        self.stores[spec.name] = spec
        return spec

    def repartition_topic(self, name: str) -> str:
        return f"{self.application_id}-{name}-repartition"

    def internal_topics(self) -> dict[str, str]:
        """Internal topic name -> kind ("repartition" or "changelog")."""
        topics = {
            topic: "repartition"
            for n in self.nodes.values()
            if n.role == "sink" and n.params.get("internal")
            for topic in n.topics()
        }
        for spec in self.stores.values():
            changelog = spec.changelog_topic(self.application_id)
            if changelog:
                topics[changelog] = "changelog"
        return topics

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
        node_kind = kind_of(kind)
        if not name and node_kind.requires_name(params or {}):
            raise TopologyError(
                f"a {kind} step needs an explicit name=...: its store, topics and savepoint "
                "entries are derived from that name, so it must not change between versions"
            )
        for store in node_kind.stores(params or {}):
            if store not in self.stores:
                raise TopologyError(f"step {name or kind!r} uses unknown store {store!r}")
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
        return [n for n in self.nodes.values() if n.role == "source"]

    def source_topics(self) -> list[str]:
        return sorted({t for n in self.sources() for t in n.topics()})

    def external_source_topics(self) -> list[str]:
        """Input topics the user provides (not repartition topics kstreamy creates)."""
        return sorted(
            {t for n in self.sources() if not n.params.get("internal") for t in n.topics()}
        )

    def sink_topics(self) -> list[str]:
        return sorted({t for n in self.nodes.values() if n.role == "sink" for t in n.topics()})

    def uses_event_time(self) -> bool:
        """Whether any step acts on watermarks (then every task tracks and forwards them)."""
        return any(n.node_kind.acts_on_time(n.params) for n in self.nodes.values())

    def writers_of(self, topic: str) -> list[int]:
        """Ids of the sub-topologies that write ``topic`` (for a repartition topic: one)."""
        return [
            sub.id
            for sub in self.subtopologies()
            if any(n.role == "sink" and topic in n.topics() for n in sub.nodes)
        ]

    def validate(self) -> None:
        if not self.sources():
            raise TopologyError("the topology has no source: call app.stream(topic) first")
        seen: dict[str, str] = {}
        for node in self.sources():
            for topic in node.topics():
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

        owner_of_store: dict[str, str] = {}
        for node in self.nodes.values():
            for parent in node.parents:
                root[find(parent)] = find(node.name)
            for store in node.store_names():
                if store in owner_of_store:
                    root[find(owner_of_store[store])] = find(node.name)
                else:
                    owner_of_store[store] = node.name
        groups: dict[str, list[Node]] = {}
        for node in self.nodes.values():
            groups.setdefault(find(node.name), []).append(node)
        return [SubTopology(i, nodes) for i, nodes in enumerate(groups.values())]

    def describe(self) -> str:
        """Human-readable text in the spirit of Kafka Streams' TopologyDescription."""
        from kstreamy.describe import describe_text  # the renderer reads this module's IR

        return describe_text(self)
