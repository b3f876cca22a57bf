"""Stream: a record stream in the topology under construction.

Each method adds one IR node and returns a new Stream positioned at it, so a pipeline reads top
to bottom. The stream remembers the serdes it was read with; ``to`` uses them unless told
otherwise, since most pipelines write what they read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kstreamy.errors import TopologyError
from kstreamy.serde import Serde, resolve_serde
from kstreamy.topology import Topology

KeyValueFn = Callable[[Any, Any], Any]


class Stream:
    """A stream of (key, value) records flowing out of one topology node."""

    def __init__(self, topology: Topology, node: str, key_serde: Serde, value_serde: Serde):
        self._topology = topology
        self.node = node
        self.key_serde = key_serde
        self.value_serde = value_serde

    def _then(self, kind: str, params: dict[str, Any], name: str | None = None) -> Stream:
        node = self._topology.add(kind, [self.node], params, name)
        return Stream(self._topology, node.name, self.key_serde, self.value_serde)

    def map(self, fn: Callable[[Any, Any], tuple[Any, Any]], name: str | None = None) -> Stream:
        """New key and value: ``fn(key, value) -> (key, value)``."""
        return self._then("map", {"fn": _callable(fn, "map")}, name)

    def map_values(self, fn: Callable[[Any], Any], name: str | None = None) -> Stream:
        """New value, same key: ``fn(value) -> value``."""
        return self._then("map_values", {"fn": _callable(fn, "map_values")}, name)

    def filter(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> Stream:
        """Keep records for which ``predicate(key, value)`` is true."""
        return self._then("filter", {"fn": _callable(predicate, "filter")}, name)

    def filter_not(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> Stream:
        """Drop records for which ``predicate(key, value)`` is true."""
        predicate = _callable(predicate, "filter_not")
        return self._then("filter", {"fn": lambda k, v: not predicate(k, v)}, name)

    def flat_map(
        self, fn: Callable[[Any, Any], Iterable[tuple[Any, Any]]], name: str | None = None
    ) -> Stream:
        """Zero or more records per record: ``fn(key, value) -> iterable of (key, value)``."""
        return self._then("flat_map", {"fn": _callable(fn, "flat_map")}, name)

    def flat_map_values(
        self, fn: Callable[[Any], Iterable[Any]], name: str | None = None
    ) -> Stream:
        """Zero or more values per record, same key."""
        fn = _callable(fn, "flat_map_values")
        return self._then("flat_map", {"fn": lambda k, v: ((k, out) for out in fn(v))}, name)

    def peek(self, fn: Callable[[Any, Any], None], name: str | None = None) -> Stream:
        """Call ``fn(key, value)`` for its side effect and pass the record on unchanged."""
        return self._then("peek", {"fn": _callable(fn, "peek")}, name)

    def foreach(self, fn: Callable[[Any, Any], None], name: str | None = None) -> None:
        """Terminal step: call ``fn(key, value)`` for every record."""
        self._then("foreach", {"fn": _callable(fn, "foreach")}, name)

    def merge(self, *others: Stream, name: str | None = None) -> Stream:
        """One stream with the records of this and the other streams, in arrival order."""
        if not others:
            raise TopologyError("merge needs at least one other stream")
        for other in others:
            if other._topology is not self._topology:
                raise TopologyError("cannot merge streams of different applications")
        node = self._topology.add("merge", [self.node, *(o.node for o in others)], {}, name)
        return Stream(self._topology, node.name, self.key_serde, self.value_serde)

    def split(self, name: str | None = None) -> BranchedStream:
        """Route each record to the first branch whose predicate matches (Kafka Streams' split)."""
        return BranchedStream(self, name)

    def branch(self, *predicates: Callable[[Any, Any], bool]) -> list[Stream]:
        """Shorthand for ``split``: one stream per predicate; unmatched records are dropped."""
        if not predicates:
            raise TopologyError("branch needs at least one predicate")
        builder = self.split()
        for i, predicate in enumerate(predicates):
            builder.branch(predicate, name=str(i))
        return list(builder.branches().values())

    def to(
        self,
        topic: str,
        key_serde: str | Serde | None = None,
        value_serde: str | Serde | None = None,
        name: str | None = None,
    ) -> None:
        """Write every record to ``topic``, partitioned by key like Kafka's default partitioner."""
        if not isinstance(topic, str) or not topic:
            raise TopologyError(f"to() needs a topic name, got {topic!r}")
        params = {
            "topic": topic,
            "key_serde": resolve_serde(key_serde) if key_serde is not None else self.key_serde,
            "value_serde": (
                resolve_serde(value_serde) if value_serde is not None else self.value_serde
            ),
        }
        self._then("sink", params, name)

    def with_serdes(
        self, key_serde: str | Serde | None = None, value_serde: str | Serde | None = None
    ) -> Stream:
        """The same stream, declared to carry other key/value types from here on."""
        return Stream(
            self._topology,
            self.node,
            resolve_serde(key_serde) if key_serde is not None else self.key_serde,
            resolve_serde(value_serde) if value_serde is not None else self.value_serde,
        )


class BranchedStream:
    """Builder returned by ``Stream.split``; branches are tried in the order they were added."""

    def __init__(self, stream: Stream, name: str | None) -> None:
        self._stream = stream
        self._name = name
        self._predicates: list[tuple[str, Callable[[Any, Any], bool] | None]] = []
        self._built: dict[str, Stream] | None = None

    def branch(
        self, predicate: Callable[[Any, Any], bool], name: str | None = None
    ) -> BranchedStream:
        self._add(name or str(len(self._predicates)), _callable(predicate, "branch"))
        return self

    def default_branch(self, name: str = "default") -> dict[str, Stream]:
        """Records no predicate matched go here; returns all branches by name."""
        self._add(name, None)
        return self.branches()

    def no_default_branch(self) -> dict[str, Stream]:
        """Records no predicate matched are dropped; returns all branches by name."""
        return self.branches()

    def _add(self, name: str, predicate: Callable[[Any, Any], bool] | None) -> None:
        if self._built is not None:
            raise TopologyError("branches were already built; add every branch before building")
        if any(existing == name for existing, _ in self._predicates):
            raise TopologyError(f"duplicate branch name {name!r}")
        self._predicates.append((name, predicate))

    def branches(self) -> dict[str, Stream]:
        if self._built is None:
            if not self._predicates:
                raise TopologyError("split() needs at least one branch")
            stream = self._stream
            node = stream._topology.add(
                "branch", [stream.node], {"predicates": list(self._predicates)}, self._name
            )
            self._built = {}
            for index, (branch_name, _) in enumerate(self._predicates):
                child = stream._topology.add(
                    "branch_output",
                    [node.name],
                    {"index": index},
                    f"{node.name}-{branch_name}",
                )
                self._built[branch_name] = Stream(
                    stream._topology, child.name, stream.key_serde, stream.value_serde
                )
        return self._built


def _callable(fn: Any, step: str) -> Any:
    if not callable(fn):
        raise TopologyError(f"{step} needs a function, got {type(fn).__name__}")
    return fn
