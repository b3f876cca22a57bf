"""Windowed aggregations: ``grouped.window(Tumbling(60.0)).count(store=...)``.

The result is a :class:`WindowedTable` whose keys are :class:`~kstreamy.windows.Windowed`
(the record key plus the window's start and end). By default every change of a window is
forwarded (Kafka Streams' emit-on-update); :meth:`WindowedTable.emit_final` forwards exactly one
result per window, once the watermark passes the window's end plus grace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.errors import TopologyError
from kstreamy.serde import Serde, resolve_serde
from kstreamy.topology import StoreSpec, Topology
from kstreamy.windowed_serde import SessionWindowedSerde, TimeWindowedSerde
from kstreamy.windows import Session, WindowDefinition

if TYPE_CHECKING:
    from kstreamy.dsl.stream import Stream


class WindowedGroupedStream:
    """Records grouped by key and assigned to windows, ready to be aggregated."""

    def __init__(
        self,
        topology: Topology,
        node: str,
        key_serde: Serde,
        value_serde: Serde,
        windows: WindowDefinition,
        late_topic: str | None,
        retention_ms: int = 0,
    ) -> None:
        self._topology = topology
        self._node = node
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._windows = windows
        self._late_topic = late_topic
        self._retention_ms = retention_ms

    def count(self, store: str, backend: str = "rocksdb", changelog: bool = True) -> WindowedTable:
        """Records per key and window."""
        return self._aggregate({"fold": "count"}, store, resolve_serde("int"), backend, changelog)

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        store: str,
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> WindowedTable:
        """``reducer(aggregate, value) -> aggregate`` per key and window; sessions that merge
        are combined with the same reducer."""
        params = {"fold": "reduce", "reducer": reducer}
        return self._aggregate(params, store, self._value_serde, backend, changelog)

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        store: str,
        value_serde: str | Serde = "json",
        merger: Callable[[Any, Any, Any], Any] | None = None,
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> WindowedTable:
        """``aggregator(key, value, aggregate) -> aggregate`` per key and window.

        Session windows also need ``merger(key, aggregate1, aggregate2)``: when a record
        bridges two sessions they become one (as in Kafka Streams)."""
        if isinstance(self._windows, Session) and merger is None:
            raise TopologyError(
                f"aggregate {store!r} over session windows needs merger=(key, agg1, agg2) -> agg "
                "to combine sessions that a record bridges"
            )
        params = {
            "fold": "aggregate",
            "initializer": initializer,
            "aggregator": aggregator,
            "merger": merger,
        }
        return self._aggregate(params, store, resolve_serde(value_serde), backend, changelog)

    def _aggregate(
        self,
        params: dict[str, Any],
        store: str,
        value_serde: Serde,
        backend: str,
        changelog: bool,
    ) -> WindowedTable:
        if not store:
            raise TopologyError(
                "a windowed aggregation needs store=...: the store, its changelog topic and "
                "savepoint entries are named after it, so it must stay the same across versions"
            )
        kind = "session" if isinstance(self._windows, Session) else "window"
        self._topology.add_store(
            StoreSpec(store, self._key_serde, value_serde, backend, changelog, kind=kind)
        )
        node = self._topology.add(
            "window_aggregate",
            [self._node],
            {
                **params,
                "store": store,
                "windows": self._windows,
                "emit_final": False,
                "late_topic": self._late_topic,
                "retention_ms": self._retention_ms,
            },
            store,
        )
        return WindowedTable(self._topology, node.name, self._key_serde, value_serde, store)


class WindowedTable:
    """Aggregates per key and window; keys are :class:`~kstreamy.windows.Windowed`."""

    def __init__(
        self,
        topology: Topology,
        node: str,
        key_serde: Serde,
        value_serde: Serde,
        store: str,
    ) -> None:
        self._topology = topology
        self.node = node
        self.inner_key_serde = key_serde
        self.value_serde = value_serde
        self.store = store
        windows = topology.nodes[node].params["windows"]
        self.key_serde: Serde = (
            SessionWindowedSerde(key_serde)
            if isinstance(windows, Session)
            else TimeWindowedSerde(key_serde, windows.size_ms)
        )
        """The default serde of windowed keys in output topics (Kafka Streams' layout)."""

    def emit_final(self) -> WindowedTable:
        """Forward exactly one result per window, when the watermark passes its end + grace,
        instead of every update (Kafka Streams' ``suppress(untilWindowCloses)``)."""
        if self._topology.children(self.node):
            raise TopologyError(
                f"call emit_final() on {self.node!r} before using its results downstream"
            )
        self._topology.nodes[self.node].params["emit_final"] = True
        return self

    def to_stream(self) -> Stream:
        """The results as a stream of (Windowed key, aggregate) records."""
        from kstreamy.dsl.stream import Stream

        return Stream(self._topology, self.node, self.key_serde, self.value_serde)

    def to(
        self,
        topic: str,
        key_serde: str | Serde | None = None,
        value_serde: str | Serde | None = None,
        name: str | None = None,
    ) -> None:
        """Write the results to ``topic``; keys by default in Kafka Streams' windowed layout
        (``key_serde="windowed-json"`` writes them as JSON objects instead)."""
        self.to_stream().to(topic, key_serde, value_serde, name)
