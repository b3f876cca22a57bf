"""The registry of topology node kinds: one entry says all that any layer needs to know of a kind.

The topology IR stores only a kind's name; everything else is looked up here: which params name
stores or topics (so sub-topologies, changelogs and the topic plan find them), whether the step
must carry a user-given name (its state and topics are named after it, so the name must survive
upgrades), how ``describe`` shows it, and which runtime function compiles it.

The entries are plain data and import nothing from the runtime: ``compile`` is a
``"module:function"`` reference that the runtime resolves once per kind when it builds a task, so
the IR stays Kafka-free and the per-record path is the compiled closure, with no lookup per
record. A compile function has the signature ``compile(compiler, node, downstream) -> forward``
(see ``kstreamy.runtime.compiler``).

To add a kind: add one ``register(NodeKind(...))`` call below and write its compile function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

from kstreamy.errors import TopologyError

Role = Literal["source", "processor", "sink"]


@dataclasses.dataclass(frozen=True)
class NodeKind:
    """What one kind of topology node is; see the module docstring."""

    name: str
    compile: str
    """``"package.module:function"`` that compiles a node of this kind for a task."""
    params: str
    """What the node's params hold, for readers of the IR."""
    role: Role = "processor"
    """Sources read topics, sinks write one; ``describe`` labels them so."""
    store_params: tuple[str, ...] = ()
    """Params that name stores: each holds one store name, or a list of them."""
    topic_param: str | None = None
    """For a source the param holding the topics it reads, for a sink the topic it writes."""
    needs_name: bool | Callable[[Mapping[str, Any]], bool] = False
    """The step holds state or creates topics named after it, so the user must name it; a
    function of the params when that depends on them (a process step with stores)."""
    describe: Callable[[Mapping[str, Any]], str] | None = None
    """Extra text for ``describe``; by default the stores used, or the topics."""
    event_time: bool | Callable[[Mapping[str, Any]], bool] = False
    """The node acts on the task's watermark (windows, event-time timers), so tasks track
    watermarks and forward them through repartition topics; a function of the params when that
    depends on them."""
    inline: str | None = None
    """The step as Python statements over ``key``, ``value`` and ``{fn}`` (the node's ``fn``
    param), for kinds compiled by ``kstreamy.runtime.fusion``: straight chains of such steps run
    as one generated function. ``return`` ends the record."""

    def acts_on_time(self, params: Mapping[str, Any]) -> bool:
        return self.event_time(params) if callable(self.event_time) else self.event_time

    def requires_name(self, params: Mapping[str, Any]) -> bool:
        return self.needs_name(params) if callable(self.needs_name) else self.needs_name

    def stores(self, params: Mapping[str, Any]) -> list[str]:
        names: list[str] = []
        for param in self.store_params:
            value = params.get(param)
            if isinstance(value, str):
                names.append(value)
            elif value:
                names.extend(value)
        return names

    def topics(self, params: Mapping[str, Any]) -> list[str]:
        if self.topic_param is None:
            return []
        value = params[self.topic_param]
        return [value] if isinstance(value, str) else list(value)

    def description(self, params: Mapping[str, Any]) -> str:
        if self.describe is not None:
            return self.describe(params)
        stores = self.stores(params)
        if stores:
            return f"stores: [{', '.join(dict.fromkeys(stores))}]"
        if self.role == "source":
            return f"topics: [{', '.join(self.topics(params))}]"
        if self.role == "sink":
            return f"topic: {params[self.topic_param or 'topic']}"
        return ""


_KINDS: dict[str, NodeKind] = {}


def register(kind: NodeKind) -> NodeKind:
    """Add a kind; names are unique, so two modules cannot silently disagree about one."""
    if kind.name in _KINDS:
        raise TopologyError(f"node kind {kind.name!r} is already registered")
    if ":" not in kind.compile:
        raise TopologyError(f"node kind {kind.name!r}: compile must be 'module:function'")
    if kind.inline is not None and not kind.name.isidentifier():
        raise TopologyError(f"node kind {kind.name!r}: a fused step's name must be an identifier")
    _KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> NodeKind:
    try:
        return _KINDS[name]
    except KeyError:
        known = ", ".join(sorted(_KINDS))
        raise TopologyError(f"unknown node kind {name!r}; known: {known}") from None


def all_kinds() -> list[NodeKind]:
    return list(_KINDS.values())


def _branches(params: Mapping[str, Any]) -> str:
    return "branches: [" + ", ".join(name for name, _ in params["predicates"]) + "]"


_STATELESS = "kstreamy.runtime.stateless"
_STATEFUL = "kstreamy.runtime.stateful"
_FUSED = "kstreamy.runtime.fusion:compile_step"

register(
    NodeKind(
        "source",
        f"{_STATELESS}:compile_pass",
        "topics, key_serde, value_serde, timestamp (callable or None), internal (bool)",
        role="source",
        topic_param="topics",
    )
)
register(
    NodeKind(
        "map",
        _FUSED,
        "fn(key, value) -> (key, value)",
        inline="key, value = {fn}(key, value)",
    )
)
register(NodeKind("map_values", _FUSED, "fn(value) -> value", inline="value = {fn}(value)"))
register(
    NodeKind(
        "filter",
        _FUSED,
        "fn(key, value) -> bool",
        inline="if not {fn}(key, value):\n    return",
    )
)
register(
    NodeKind(
        "flat_map", f"{_STATELESS}:compile_flat_map", "fn(key, value) -> iterable of (key, value)"
    )
)
register(
    NodeKind(
        "peek",
        _FUSED,
        "fn(key, value) -> None; the record passes on",
        inline="{fn}(key, value)",
    )
)
register(NodeKind("foreach", _FUSED, "fn(key, value) -> None; terminal", inline="{fn}(key, value)"))
register(
    NodeKind(
        "branch",
        f"{_STATELESS}:compile_branch",
        "predicates: list of (name, fn or None for the default branch); children are "
        "branch_output nodes",
        describe=_branches,
    )
)
register(
    NodeKind(
        "branch_output",
        f"{_STATELESS}:compile_pass",
        "index: the position of its predicate in the parent branch's list",
    )
)
register(
    NodeKind("merge", f"{_STATELESS}:compile_pass", "none: forwards the records of all parents")
)
register(
    NodeKind(
        "to_stream",
        f"{_STATELESS}:compile_pass",
        "none: a table's updates as a stream (only present when the user named the step)",
    )
)
register(
    NodeKind(
        "sink",
        f"{_STATELESS}:compile_sink",
        "topic, key_serde, value_serde, internal (bool: a repartition topic), base_key_serde "
        "(optional: the serde of a windowed key's base key, whose bytes choose the partition)",
        role="sink",
        topic_param="topic",
    )
)
register(
    NodeKind(
        "aggregate",
        f"{_STATEFUL}:compile_aggregate",
        "store, initializer(), aggregator(key, value, acc) -> acc, counting (bool: count()); "
        "forwards (key, acc)",
        store_params=("store",),
        needs_name=True,
    )
)
register(
    NodeKind(
        "reduce",
        f"{_STATEFUL}:compile_reduce",
        "store, reducer(acc, value) -> acc; forwards (key, acc)",
        store_params=("store",),
        needs_name=True,
    )
)
register(
    NodeKind(
        "materialize",
        f"{_STATEFUL}:compile_materialize",
        "store; puts (key, value) in the store (None deletes) and forwards it",
        store_params=("store",),
        needs_name=True,
    )
)
register(
    NodeKind(
        "table_filter",
        f"{_STATEFUL}:compile_table_filter",
        "fn(key, value) -> bool; a failing update forwards (key, None)",
    )
)
register(
    NodeKind(
        "table_map_values",
        f"{_STATEFUL}:compile_table_map_values",
        "fn(value) -> value; None stays None",
    )
)
register(
    NodeKind(
        "stream_table_join",
        f"{_STATEFUL}:compile_stream_table_join",
        "table_store, joiner(value, table_value) -> value, how ('inner'/'left')",
        store_params=("table_store",),
    )
)
register(
    NodeKind(
        "table_join_side",
        f"{_STATEFUL}:compile_table_join_side",
        "own_store, other_store, side ('left'/'right'), joiner, how",
        store_params=("own_store", "other_store"),
        needs_name=True,
    )
)
register(
    NodeKind(
        "process",
        f"{_STATEFUL}:compile_process",
        "function (a ProcessFunction, copied per task), stores, key_serde, timer_store "
        "(when the function has on_timer)",
        store_params=("stores", "timer_store"),
        needs_name=lambda params: bool(params.get("stores") or params.get("timer_store")),
        event_time=lambda params: bool(params.get("timer_store")),
    )
)


def _window_description(params: Mapping[str, Any]) -> str:
    mode = "final" if params.get("emit_final") else "updates"
    late = f", late -> {params['late_topic']}" if params.get("late_topic") else ""
    return f"stores: [{params['store']}], windows: {params['windows']!r}, emit: {mode}{late}"


register(
    NodeKind(
        "window_aggregate",
        "kstreamy.runtime.window_node:compile_window_aggregate",
        "store, windows (Tumbling/Hopping/Sliding/Session), fold ('count'/'reduce'/'aggregate'), "
        "reducer or initializer+aggregator(+merger for sessions), emit_final, late_topic",
        store_params=("store",),
        topic_param=None,
        needs_name=True,
        describe=_window_description,
        event_time=True,
    )
)


def _stream_join_description(params: Mapping[str, Any]) -> str:
    late = f", late -> {params['late_topic']}" if params.get("late_topic") else ""
    return (
        f"stores: [{params['this_store']}, {params['other_store']}], {params['how']} join, "
        f"side: {params['side']}, window: {params['window']!r}{late}"
    )


register(
    NodeKind(
        "stream_join_side",
        "kstreamy.runtime.stream_join:compile_stream_join_side",
        "side ('this' = left input, 'other' = right input), this_store, other_store (window "
        "stores of the left and right records), joiner(left, right), how ('inner'/'left'/"
        "'outer'), window (JoinWindows), late_topic; both sides forward to one merge step",
        store_params=("this_store", "other_store"),
        needs_name=True,
        describe=_stream_join_description,
        event_time=True,
    )
)
