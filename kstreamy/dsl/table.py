"""Table: a changelog stream in which each record is the latest value of its key.

A table produced by an aggregation or read with ``app.table`` is materialized in a store, so it
can be joined and queried. ``None`` values are deletions (tombstones) and travel downstream as
such: a table filter turns a row that no longer matches into a deletion, as in Kafka Streams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from kstreamy.errors import TopologyError
from kstreamy.serde import Serde, resolve_serde
from kstreamy.topology import StoreSpec, Topology

if TYPE_CHECKING:
    from kstreamy.dsl.stream import Stream

JoinKind = Literal["inner", "left", "outer"]


class Table:
    def __init__(
        self,
        topology: Topology,
        node: str,
        key_serde: Serde,
        value_serde: Serde,
        store: str | None,
    ) -> None:
        self._topology = topology
        self.node = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.store = store
        """The store holding this table's rows, or None when it is not materialized."""

    def _then(
        self, kind: str, params: dict[str, Any], name: str | None, value_serde: Serde | None = None
    ) -> Table:
        node = self._topology.add(kind, [self.node], params, name)
        return Table(
            self._topology, node.name, self.key_serde, value_serde or self.value_serde, None
        )

    def filter(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> Table:
        """Rows for which ``predicate(key, value)`` holds; others become deletions."""
        return self._then("table_filter", {"fn": predicate}, name)

    def map_values(
        self,
        fn: Callable[[Any], Any],
        name: str | None = None,
        value_serde: str | Serde | None = None,
    ) -> Table:
        """New value per row; deletions stay deletions."""
        serde = resolve_serde(value_serde) if value_serde is not None else None
        return self._then("table_map_values", {"fn": fn}, name, serde)

    def materialize(
        self,
        name: str,
        value_serde: str | Serde | None = None,
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> Table:
        """Keep this table's rows in a store called ``name`` (so it can be joined or queried)."""
        serde = resolve_serde(value_serde) if value_serde is not None else self.value_serde
        self._topology.add_store(StoreSpec(name, self.key_serde, serde, backend, changelog))
        node = self._topology.add("materialize", [self.node], {"store": name}, name)
        return Table(self._topology, node.name, self.key_serde, serde, name)

    def to_stream(self, name: str | None = None) -> Stream:
        """The table's updates as a stream of records (deletions have value None).

        The table's node already forwards every update, so no step is added unless ``name`` is
        given (then a named pass-through step shows in ``describe``).
        """
        from kstreamy.dsl.stream import Stream

        node = self._topology.add("to_stream", [self.node], {}, name).name if name else self.node
        return Stream(self._topology, node, self.key_serde, self.value_serde)

    def to(
        self,
        topic: str,
        key_serde: str | Serde | None = None,
        value_serde: str | Serde | None = None,
        name: str | None = None,
    ) -> None:
        """Write every update (deletions as tombstones) to ``topic``."""
        self.to_stream().to(topic, key_serde, value_serde, name)

    def join(
        self,
        other: Table,
        joiner: Callable[[Any, Any], Any],
        name: str,
        how: JoinKind = "inner",
        value_serde: str | Serde = "json",
    ) -> Table:
        """Join two tables on their key; updates on either side update the result.

        ``joiner(left_value, right_value)``; with ``how="left"`` the right value may be None,
        with ``"outer"`` either may be. A row that stops joining becomes a deletion.
        """
        if how not in ("inner", "left", "outer"):
            raise TopologyError(f"table join how must be inner, left or outer, got {how!r}")
        if not name:
            raise TopologyError("a table-table join needs name=...")
        for side in (self, other):
            if side.store is None:
                raise TopologyError(
                    f"table join {name!r}: both tables must be materialized "
                    "(use an aggregation, app.table(), or .materialize(name))"
                )
        sides = []
        for side, own, theirs in (("left", self, other), ("right", other, self)):
            params = {
                "side": side,
                "own_store": own.store,
                "other_store": theirs.store,
                "joiner": joiner,
                "how": how,
            }
            sides.append(
                self._topology.add("table_join_side", [own.node], params, f"{name}-{side}")
            )
        node = self._topology.add("merge", [s.name for s in sides], {}, name)
        return Table(self._topology, node.name, self.key_serde, resolve_serde(value_serde), None)

    def left_join(self, other: Table, joiner: Callable[[Any, Any], Any], name: str) -> Table:
        return self.join(other, joiner, name, how="left")

    def outer_join(self, other: Table, joiner: Callable[[Any, Any], Any], name: str) -> Table:
        return self.join(other, joiner, name, how="outer")
