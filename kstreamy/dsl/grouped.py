"""GroupedStream: records grouped by key, ready to be aggregated into a Table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.dsl.table import Table
from kstreamy.dsl.windowed import WindowedGroupedStream
from kstreamy.errors import TopologyError
from kstreamy.serde import Serde, resolve_serde
from kstreamy.topology import StoreSpec, Topology
from kstreamy.windows import Hopping, Session, Sliding, Tumbling, WindowDefinition


class GroupedStream:
    def __init__(self, topology: Topology, node: str, key_serde: Serde, value_serde: Serde):
        self._topology = topology
        self.node = node
        self.key_serde = key_serde
        self.value_serde = value_serde

    def _aggregate(
        self,
        kind: str,
        params: dict[str, Any],
        name: str | None,
        store: str | None,
        value_serde: Serde,
        backend: str,
        changelog: bool,
        step: str | None = None,
    ) -> Table:
        store_name = store or name
        if not store_name:
            raise TopologyError(
                f"{step or kind} needs store=... (or name=...): the store, its changelog topic "
                "and savepoint entries are named after it, so it must stay the same across "
                "versions"
            )
        self._topology.add_store(
            StoreSpec(store_name, self.key_serde, value_serde, backend, changelog)
        )
        node = self._topology.add(kind, [self.node], {**params, "store": store_name}, store_name)
        return Table(self._topology, node.name, self.key_serde, value_serde, store_name)

    def window(
        self,
        windows: WindowDefinition,
        late_topic: str | None = None,
        retention: float = 0.0,
    ) -> WindowedGroupedStream:
        """Aggregate per key and event-time window (Tumbling, Hopping, Sliding, Session).

        Records behind the watermark past the window's grace are late: counted and logged, or
        written to ``late_topic`` as read, with headers naming the window and the watermark.
        ``retention`` (seconds) keeps closed windows in the store that much longer, for
        interactive queries; they never change again.
        """
        if not isinstance(windows, (Tumbling, Hopping, Sliding, Session)):
            raise TopologyError(
                f"window() needs Tumbling, Hopping, Sliding or Session, got {windows!r}"
            )
        if not isinstance(retention, (int, float)) or retention < 0:
            raise TopologyError(f"retention must be seconds >= 0, got {retention!r}")
        return WindowedGroupedStream(
            self._topology,
            self.node,
            self.key_serde,
            self.value_serde,
            windows,
            late_topic,
            round(retention * 1000),
        )

    def count(
        self,
        name: str | None = None,
        store: str | None = None,
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> Table:
        """Number of records per key (an ``int`` table)."""
        return self._aggregate(
            "aggregate",
            {
                "initializer": lambda: 0,
                "aggregator": lambda key, value, count: count + 1,
                "counting": True,  # lets the runtime use a specialized, faster loop
            },
            name,
            store,
            resolve_serde("int"),
            backend,
            changelog,
            step="count",
        )

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        name: str | None = None,
        store: str | None = None,
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> Table:
        """Combine values of a key: ``reducer(aggregate, value) -> aggregate``."""
        return self._aggregate(
            "reduce", {"reducer": reducer}, name, store, self.value_serde, backend, changelog
        )

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        name: str | None = None,
        store: str | None = None,
        value_serde: str | Serde = "json",
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> Table:
        """Fold values per key: ``aggregator(key, value, aggregate) -> aggregate``."""
        return self._aggregate(
            "aggregate",
            {"initializer": initializer, "aggregator": aggregator},
            name,
            store,
            resolve_serde(value_serde),
            backend,
            changelog,
        )
