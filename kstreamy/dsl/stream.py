"""Stream: a record stream in the topology under construction.

Each method adds one IR node and returns a new Stream positioned at it, so a pipeline reads top
to bottom. The stream remembers the serdes it was read with; ``to`` uses them unless told
otherwise, since most pipelines write what they read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kstreamy.dsl.grouped import GroupedStream
from kstreamy.dsl.stream_join import join_streams, join_table
from kstreamy.dsl.table import Table
from kstreamy.errors import TopologyError
from kstreamy.serde import Serde, resolve_serde
from kstreamy.topology import StoreSpec, Topology
from kstreamy.windowed_serde import WindowedJsonSerde

if TYPE_CHECKING:
    from kstreamy.dsl.branching import BranchedStream
    from kstreamy.processor import ProcessFunction
    from kstreamy.windows import JoinWindows

KeyValueFn = Callable[[Any, Any], Any]


class Stream:
    """A stream of (key, value) records flowing out of one topology node."""

    def __init__(
        self,
        topology: Topology,
        node: str,
        key_serde: Serde,
        value_serde: Serde,
        key_changed: bool = False,
    ):
        self._topology = topology
        self.node = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.key_changed = key_changed
        """Whether a step may have changed keys, so grouping needs a repartition first."""

    def _then(
        self,
        kind: str,
        params: dict[str, Any],
        name: str | None = None,
        changes_key: bool = False,
    ) -> Stream:
        node = self._topology.add(kind, [self.node], params, name)
        return Stream(
            self._topology,
            node.name,
            self.key_serde,
            self.value_serde,
            self.key_changed or changes_key,
        )

    def map(self, fn: Callable[[Any, Any], tuple[Any, Any]], name: str | None = None) -> Stream:
        """New key and value: ``fn(key, value) -> (key, value)``."""
        return self._then("map", {"fn": callable_or_error(fn, "map")}, name, changes_key=True)

    def map_values(self, fn: Callable[[Any], Any], name: str | None = None) -> Stream:
        """New value, same key: ``fn(value) -> value``."""
        return self._then("map_values", {"fn": callable_or_error(fn, "map_values")}, name)

    def filter(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> Stream:
        """Keep records for which ``predicate(key, value)`` is true."""
        return self._then("filter", {"fn": callable_or_error(predicate, "filter")}, name)

    def filter_not(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> Stream:
        """Drop records for which ``predicate(key, value)`` is true."""
        predicate = callable_or_error(predicate, "filter_not")
        return self._then("filter", {"fn": lambda k, v: not predicate(k, v)}, name)

    def flat_map(
        self, fn: Callable[[Any, Any], Iterable[tuple[Any, Any]]], name: str | None = None
    ) -> Stream:
        """Zero or more records per record: ``fn(key, value) -> iterable of (key, value)``."""
        return self._then(
            "flat_map", {"fn": callable_or_error(fn, "flat_map")}, name, changes_key=True
        )

    def flat_map_values(
        self, fn: Callable[[Any], Iterable[Any]], name: str | None = None
    ) -> Stream:
        """Zero or more values per record, same key."""
        fn = callable_or_error(fn, "flat_map_values")
        return self._then("flat_map", {"fn": lambda k, v: ((k, out) for out in fn(v))}, name)

    def peek(self, fn: Callable[[Any, Any], None], name: str | None = None) -> Stream:
        """Call ``fn(key, value)`` for its side effect and pass the record on unchanged."""
        return self._then("peek", {"fn": callable_or_error(fn, "peek")}, name)

    def foreach(self, fn: Callable[[Any, Any], None], name: str | None = None) -> None:
        """Terminal step: call ``fn(key, value)`` for every record."""
        self._then("foreach", {"fn": callable_or_error(fn, "foreach")}, name)

    def merge(self, *others: Stream, name: str | None = None) -> Stream:
        """One stream with the records of this and the other streams, in arrival order."""
        if not others:
            raise TopologyError("merge needs at least one other stream")
        for other in others:
            if other._topology is not self._topology:
                raise TopologyError("cannot merge streams of different applications")
        node = self._topology.add("merge", [self.node, *(o.node for o in others)], {}, name)
        changed = self.key_changed or any(o.key_changed for o in others)
        return Stream(self._topology, node.name, self.key_serde, self.value_serde, changed)

    def split(self, name: str | None = None) -> BranchedStream:
        """Route each record to the first branch whose predicate matches (Kafka Streams' split)."""
        from kstreamy.dsl.branching import BranchedStream

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
        """Write every record to ``topic``, partitioned by key like Kafka's default partitioner.

        Windowed keys (results of a windowed aggregation) are partitioned by their base key, as
        Kafka Streams does, so all windows of a key go to the partition of the key itself."""
        if not isinstance(topic, str) or not topic:
            raise TopologyError(f"to() needs a topic name, got {topic!r}")
        params = {
            "topic": topic,
            "key_serde": resolve_serde(key_serde) if key_serde is not None else self.key_serde,
            "value_serde": (
                resolve_serde(value_serde) if value_serde is not None else self.value_serde
            ),
        }
        inner = getattr(self.key_serde, "base_key_serde", None)
        if isinstance(params["key_serde"], WindowedJsonSerde) and inner is not None:
            params["base_key_serde"] = inner  # the bytes Kafka Streams would hash
        self._then("sink", params, name)

    def group_by_key(
        self,
        name: str | None = None,
        key_serde: str | Serde | None = None,
        value_serde: str | Serde | None = None,
        partitions: int | None = None,
    ) -> GroupedStream:
        """Group by the current key, for an aggregation.

        If an earlier step may have changed keys (map, flat_map), records are first written to
        the repartition topic ``<app_id>-<name>-repartition`` so that all records of a key meet
        in one task; that needs ``name``. ``partitions`` repartitions in any case, into that
        many partitions: the aggregation then runs on that many tasks, whatever the input's
        partition count (change it later through a savepoint and ``kstreamy reset``).
        """
        stream = self.with_serdes(key_serde, value_serde)
        if self.key_changed or partitions is not None:
            if not name:
                raise TopologyError(
                    "group_by_key after a key-changing step (map, flat_map) or with "
                    "partitions=... repartitions through a topic and needs name=..."
                )
            stream = stream._repartition(name, partitions)
        return GroupedStream(stream._topology, stream.node, stream.key_serde, stream.value_serde)

    def group_by(
        self,
        key_fn: Callable[[Any, Any], Any],
        name: str,
        key_serde: str | Serde | None = None,
        value_serde: str | Serde | None = None,
        partitions: int | None = None,
    ) -> GroupedStream:
        """Group by ``key_fn(key, value)``, through ``<app_id>-<name>-repartition``.

        The repartition topic has as many partitions as the input by default; ``partitions``
        sets another count (and so the number of tasks of the aggregation).
        """
        if not name:
            raise TopologyError("group_by repartitions through a topic and needs name=...")
        key_fn = callable_or_error(key_fn, "group_by")
        selected = self._then(
            "map", {"fn": lambda k, v: (key_fn(k, v), v)}, f"{name}-select-key", changes_key=True
        ).with_serdes(key_serde, value_serde)
        stream = selected._repartition(name, partitions)
        return GroupedStream(stream._topology, stream.node, stream.key_serde, stream.value_serde)

    def _repartition(self, name: str, partitions: int | None = None) -> Stream:
        if partitions is not None and (
            not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1
        ):
            raise TopologyError(f"{name}: partitions must be a positive int, got {partitions!r}")
        topic = self._topology.repartition_topic(name)
        params = {
            "topic": topic,
            "key_serde": self.key_serde,
            "value_serde": self.value_serde,
            "internal": True,
        }
        if partitions is not None:
            params["partitions"] = partitions
        self._topology.add("sink", [self.node], params, f"{name}-repartition-sink")
        source_params = {
            "topics": [topic],
            "key_serde": self.key_serde,
            "value_serde": self.value_serde,
            "timestamp": None,
            "internal": True,
        }
        node = self._topology.add("source", [], source_params, f"{name}-repartition-source")
        return Stream(self._topology, node.name, self.key_serde, self.value_serde)

    def join(
        self,
        other: Table | Stream,
        joiner: Callable[[Any, Any], Any],
        how: str = "inner",
        name: str | None = None,
        *,
        window: JoinWindows | None = None,
        late_topic: str | None = None,
    ) -> Stream:
        """Join with a table (each record meets its key's current row) or with a stream
        (records of both streams meet when close in event time).

        Stream-table: ``joiner(value, table_value)``; inner drops records without a row,
        ``how="left"`` passes ``table_value=None`` instead. Stream-stream (``other`` is a
        Stream, ``window`` a :class:`~kstreamy.windows.JoinWindows`, ``name`` required):
        ``joiner(left, right)`` per pair with the same key within the window; ``how`` may be
        ``"left"`` or ``"outer"``, and a record without a partner when its window closes is
        joined with None, once; late records are counted or go to ``late_topic`` (see
        :mod:`kstreamy.dsl.stream_join`). Inputs must be co-partitioned; after a key-changing
        step (map, flat_map) they are first repartitioned, which needs ``name``.
        """
        if isinstance(other, Stream):
            return join_streams(self, other, joiner, window, how, name, late_topic)
        if window is not None or late_topic is not None:
            raise TopologyError(
                "window= and late_topic= are for stream-stream joins; a stream-table join "
                "looks up the table's current row"
            )
        return join_table(self, other, joiner, how, name)

    def left_join(
        self,
        other: Table | Stream,
        joiner: Callable[[Any, Any], Any],
        name: str | None = None,
        *,
        window: JoinWindows | None = None,
        late_topic: str | None = None,
    ) -> Stream:
        """``join(..., how="left")``: every record of this stream gives a result."""
        return self.join(other, joiner, "left", name, window=window, late_topic=late_topic)

    def outer_join(
        self,
        other: Stream,
        joiner: Callable[[Any, Any], Any],
        name: str | None = None,
        *,
        window: JoinWindows | None = None,
        late_topic: str | None = None,
    ) -> Stream:
        """Stream-stream ``join(..., how="outer")``: every record of either stream gives a
        result. (Stream-table joins are inner or left only, as in Kafka Streams.)"""
        if not isinstance(other, Stream):
            raise TopologyError(
                "outer_join needs a Stream: a stream-table join is inner or left "
                "(tables join tables with Table.outer_join)"
            )
        return self.join(other, joiner, "outer", name, window=window, late_topic=late_topic)

    def process(
        self,
        function: ProcessFunction,
        stores: list[str | StoreSpec] | tuple[str | StoreSpec, ...] = (),
        name: str | None = None,
    ) -> Stream:
        """Run a :class:`ProcessFunction` on every record (the Processor API).

        ``stores`` are the stores it may use: a name gives a RocksDB store with a changelog and
        JSON keys and values; pass a ``StoreSpec`` for other settings. A step with stores needs
        ``name``. Each task gets its own copy of ``function``, so instance attributes are
        per task, never shared between partitions. Its output may carry new keys, so a later
        ``group_by_key`` or join repartitions (and needs ``name=``).
        """
        from kstreamy.processor import ProcessFunction

        if not isinstance(function, ProcessFunction):
            raise TopologyError("process() needs a ProcessFunction instance")
        if stores and not name:
            raise TopologyError(
                "a process step with stores needs name=...: it must stay the same across "
                "versions so its state can be found again"
            )
        names = []
        for store in stores:
            spec = store if isinstance(store, StoreSpec) else _default_store(store)
            if spec.name not in self._topology.stores:
                self._topology.add_store(spec)
            names.append(spec.name)
        params: dict[str, Any] = {
            "function": function,
            "stores": names,
            "key_serde": self.key_serde,
        }
        if type(function).on_timer is not ProcessFunction.on_timer:
            if not name:
                raise TopologyError(
                    "a process step with on_timer needs name=...: its timers are kept in the "
                    "store '<name>-timers', which must be found again after a restart"
                )
            timer_store = f"{name}-timers"
            self._topology.add_store(
                StoreSpec(
                    timer_store, resolve_serde("bytes"), resolve_serde("bytes"), kind="timers"
                )
            )
            params["timer_store"] = timer_store
        # ctx.emit may change keys, so (as in Kafka Streams) grouping afterwards repartitions.
        return self._then("process", params, name, changes_key=True)

    def with_serdes(
        self, key_serde: str | Serde | None = None, value_serde: str | Serde | None = None
    ) -> Stream:
        """The same stream, declared to carry other key/value types from here on."""
        return Stream(
            self._topology,
            self.node,
            resolve_serde(key_serde) if key_serde is not None else self.key_serde,
            resolve_serde(value_serde) if value_serde is not None else self.value_serde,
            self.key_changed,
        )


def _default_store(name: str) -> StoreSpec:
    return StoreSpec(name, resolve_serde("json"), resolve_serde("json"))


def callable_or_error(fn: Any, step: str) -> Any:
    if not callable(fn):
        raise TopologyError(f"{step} needs a function, got {type(fn).__name__}")
    return fn
