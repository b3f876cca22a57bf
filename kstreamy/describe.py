"""Render a topology for people: text in the style of Kafka Streams, or a Mermaid flowchart.

Both renderers read only the plain-data IR (``kstreamy.topology``) and the registry of kinds, so
what they show is exactly what the runtime will run.
"""

from __future__ import annotations

from kstreamy.errors import TopologyError
from kstreamy.topology import Node, Topology

FORMATS: tuple[str, ...] = ("text", "mermaid")


def describe(topology: Topology, format: str = "text") -> str:
    """The topology in ``format`` ("text" or "mermaid")."""
    if format == "text":
        return f"Application: {topology.application_id}\n{describe_text(topology)}"
    if format == "mermaid":
        return describe_mermaid(topology)
    raise TopologyError(f"unknown describe format {format!r}; known: {', '.join(FORMATS)}")


def describe_text(topology: Topology) -> str:
    """Sub-topologies with their nodes, each with its children (-->) and parents (<--)."""
    lines = ["Topologies:"]
    for sub in topology.subtopologies():
        lines.append(f"  Sub-topology: {sub.id}")
        for node in sub.nodes:
            label = {"source": "Source", "sink": "Sink"}.get(node.role, "Processor")
            params = node.describe_params()
            kind = "" if node.role in ("source", "sink") else f" [{node.kind}]"
            lines.append(f"    {label}: {node.name}{kind}" + (f" ({params})" if params else ""))
            children = [c.name for c in topology.children(node.name)]
            lines.append(f"      --> {', '.join(children) if children else 'none'}")
            if node.parents:
                lines.append(f"      <-- {', '.join(node.parents)}")
    return "\n".join(lines)


_CLASSES = (
    "    classDef topic fill:#fff5d6,stroke:#b58900",
    "    classDef repartition fill:#fde2cf,stroke:#cb4b16",
    "    classDef changelog fill:#e4ecf7,stroke:#268bd2",
    "    classDef store fill:#e3f2e1,stroke:#859900",
)


def describe_mermaid(topology: Topology) -> str:
    """A Mermaid ``flowchart``: one subgraph per sub-topology holding its processors and stores;
    topics (user, repartition, changelog) outside, since they link sub-topologies and
    applications. Stores are cylinders joined to their steps and their changelog by dotted
    lines; topics are parallelograms, styled by what they are."""
    ids = _Ids()
    internal = topology.internal_topics()
    body: list[str] = []
    edges: list[str] = []
    for sub in topology.subtopologies():
        body.append(f'    subgraph sub{sub.id} ["Sub-topology {sub.id}"]')
        for node in sub.nodes:
            body.append(f"        {ids.node(node.name)}{_node_shape(node)}")
        for store in sub.store_names:
            body.append(f'        {ids.store(store)}[("{_escape(store)}")]')
        body.append("    end")
        for node in sub.nodes:
            edges.extend(_node_edges(node, ids))
        for store in sub.store_names:
            changelog = topology.stores[store].changelog_topic(topology.application_id)
            if changelog:
                edges.append(f"    {ids.store(store)} -.-> {ids.topic(changelog)}")
    for topic in ids.topics:
        body.append(f'    {ids.topics[topic]}[/"{_escape(topic)}"/]')
    classes = [
        f"    class {','.join(ids.topics[t] for t in ids.topics if internal.get(t) == kind)} {kind}"
        for kind in ("repartition", "changelog")
        if any(internal.get(t) == kind for t in ids.topics)
    ]
    user_topics = [ids.topics[t] for t in ids.topics if t not in internal]
    if user_topics:
        classes.append(f"    class {','.join(user_topics)} topic")
    if ids.stores:
        classes.append(f"    class {','.join(ids.stores.values())} store")
    title = ["---", f"title: {topology.application_id}", "---"]
    return "\n".join([*title, "flowchart LR", *body, *edges, *_CLASSES, *classes])


def _node_shape(node: Node) -> str:
    if node.role in ("source", "sink"):
        return f'(["{_escape(node.name)}"])'  # a stadium: where records enter or leave
    return f'["{_escape(node.name)}<br/><i>{_escape(node.kind)}</i>"]'


def _node_edges(node: Node, ids: _Ids) -> list[str]:
    me = ids.node(node.name)
    edges = [f"    {ids.node(parent)} --> {me}" for parent in node.parents]
    if node.role == "source":
        edges = [f"    {ids.topic(topic)} --> {me}" for topic in node.topics()] + edges
    elif node.role == "sink":
        edges += [f"    {me} --> {ids.topic(topic)}" for topic in node.topics()]
    edges += [f"    {me} -.- {ids.store(store)}" for store in dict.fromkeys(node.store_names())]
    return edges


class _Ids:
    """Short, Mermaid-safe ids for nodes, stores and topics, whose names may hold anything."""

    def __init__(self) -> None:
        self.nodes: dict[str, str] = {}
        self.stores: dict[str, str] = {}
        self.topics: dict[str, str] = {}

    def node(self, name: str) -> str:
        return self.nodes.setdefault(name, f"n{len(self.nodes)}")

    def store(self, name: str) -> str:
        return self.stores.setdefault(name, f"s{len(self.stores)}")

    def topic(self, name: str) -> str:
        return self.topics.setdefault(name, f"t{len(self.topics)}")


def _escape(text: str) -> str:
    """Mermaid entity codes for the characters that would end or mark up a quoted label."""
    for char, code in (
        ("#", "#35;"),
        ("&", "#amp;"),
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
    ):
        text = text.replace(char, code)
    return text
