"""Joins of a stream in the DSL: with a table, or with another stream in a time window.

``Stream.join``, ``left_join`` and ``outer_join`` dispatch on what they are given, so one verb
means "join" whatever is joined, as in Kafka Streams: a Table goes to :func:`join_table`, a
Stream to :func:`join_streams` (``left.join(right, joiner, window=..., name=...)``), which
becomes, in the IR:

* per side that may have changed keys, a repartition through ``<app_id>-<name>-left-repartition``
  / ``<name>-right-repartition`` (as for every join after a key change), so both inputs are
  co-partitioned;
* two window stores, ``<name>-this`` (left records) and ``<name>-other`` (right records), both
  named by both side steps, so the two inputs land in one sub-topology and one task holds
  partition N of both;
* the side steps ``<name>-this-join`` and ``<name>-other-join`` and a merge step ``<name>``
  whose output is the joined stream.

Keys of both sides are compared as the left stream's key serde writes them, so both sides
should carry keys of the same type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.dsl.table import Table
from kstreamy.errors import TopologyError
from kstreamy.state.join_records import JoinRecordsSerde
from kstreamy.topology import StoreSpec
from kstreamy.windows import JoinWindows

if TYPE_CHECKING:
    from kstreamy.dsl.stream import Stream

HOWS = ("inner", "left", "outer")


def join_table(
    stream: Stream, table: Table, joiner: Callable[[Any, Any], Any], how: str, name: str | None
) -> Stream:
    """Each record of ``stream`` meets the row of its key in ``table``, as it is now:
    ``joiner(value, row)``; inner drops records without a row, left passes None."""
    if how not in ("inner", "left"):
        raise TopologyError(f"stream-table join how must be 'inner' or 'left', got {how!r}")
    if not isinstance(table, Table):
        raise TopologyError(f"join needs a Table or a Stream, got {type(table).__name__}")
    if table.store is None:
        raise TopologyError(
            "the table of a stream-table join must be materialized "
            "(an aggregation, app.table(), or .materialize(name))"
        )
    if not callable(joiner):
        raise TopologyError(f"join needs a function, got {type(joiner).__name__}")
    params = {"table_store": table.store, "joiner": joiner, "how": how}
    if stream.key_changed:
        if not name:
            raise TopologyError(
                "a join after a key-changing step (map, flat_map) repartitions through a "
                "topic and needs name=..."
            )
        stream = stream._repartition(name)
    return stream._then("stream_table_join", params, name)


def join_streams(
    left: Stream,
    right: Stream,
    joiner: Callable[[Any, Any], Any],
    window: JoinWindows | None,
    how: str,
    name: str | None,
    late_topic: str | None = None,
) -> Stream:
    """Build the join of ``left`` and ``right``; see the module docstring."""
    from kstreamy.dsl.stream import Stream

    if how not in HOWS:
        raise TopologyError(f"stream-stream join how must be one of {HOWS}, got {how!r}")
    if not isinstance(window, JoinWindows):
        raise TopologyError(
            "a stream-stream join needs window=JoinWindows(before=..., after=..., grace=...) "
            f"(or JoinWindows.of(seconds)), got {window!r}"
        )
    if not name:
        raise TopologyError(
            "a stream-stream join needs name=...: its window stores '<name>-this' and "
            "'<name>-other' and their changelog topics are named after it, so it must stay the "
            "same across versions"
        )
    if not callable(joiner):
        raise TopologyError(f"join needs a joiner function, got {type(joiner).__name__}")
    topology = left._topology
    if right._topology is not topology:
        raise TopologyError("cannot join streams of different applications")
    for store in (f"{name}-this", f"{name}-other"):
        if store in topology.stores:
            raise TopologyError(f"join {name!r}: a store named {store!r} already exists")
    this = left._repartition(f"{name}-left") if left.key_changed else left
    other = right._repartition(f"{name}-right") if right.key_changed else right
    this_store, other_store = f"{name}-this", f"{name}-other"
    keys = left.key_serde
    topology.add_store(
        StoreSpec(this_store, keys, JoinRecordsSerde(this.value_serde), kind="window")
    )
    topology.add_store(
        StoreSpec(other_store, keys, JoinRecordsSerde(other.value_serde), kind="window")
    )
    params = {
        "this_store": this_store,
        "other_store": other_store,
        "joiner": joiner,
        "how": how,
        "window": window,
        "late_topic": late_topic,
    }
    this_node = topology.add(
        "stream_join_side", [this.node], {**params, "side": "this"}, f"{name}-this-join"
    )
    other_node = topology.add(
        "stream_join_side", [other.node], {**params, "side": "other"}, f"{name}-other-join"
    )
    merged = topology.add("merge", [this_node.name, other_node.name], {}, name)
    return Stream(topology, merged.name, left.key_serde, left.value_serde)
