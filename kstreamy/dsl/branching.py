"""Splitting a stream into branches (Kafka Streams' ``split``): each record goes to the first
branch whose predicate matches, or to the default branch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.dsl.stream import Stream, callable_or_error
from kstreamy.errors import TopologyError


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
        self._add(name or str(len(self._predicates)), callable_or_error(predicate, "branch"))
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
                    stream._topology,
                    child.name,
                    stream.key_serde,
                    stream.value_serde,
                    stream.key_changed,
                )
        return self._built
