"""Straight chains of record-at-a-time steps, fused into one generated function per chain.

Each compiled node is a closure that calls the next, and on a stateless pipeline those calls
are a large part of what the library adds to the user's own functions per record. So the kinds
whose registry entry carries an ``inline`` statement (filter, map, map_values, peek, foreach)
compile here, and a node with one child of such a kind takes the child's statements into its
own function: ``filter → map_values → to`` runs as one function that calls the user's two
functions and then the sink, instead of three functions calling each other.

A fused function behaves exactly as the chain of closures did: the steps run in order, a failed
filter ends the record, and an exception from a user function propagates unchanged (its
traceback shows the generated function, named after the steps, then the user's code).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kstreamy.errors import TopologyError
from kstreamy.kinds import kind_of
from kstreamy.topology import Node

if TYPE_CHECKING:
    from kstreamy.runtime.compiler import Compiler, Forward


_CHAIN = "_kstreamy_chain"
"""The attribute of a fused function holding its steps and tail, so a parent can extend it."""


def compile_step(compiler: Compiler, node: Node, downstream: Forward) -> Forward:
    """Compile ``node`` together with the straight chain below it (see the module docstring)."""
    steps = [(node.kind, node.params["fn"])]
    children = compiler.children_of(node)
    tail: Forward | None = downstream if children else None
    if len(children) == 1:
        below = getattr(downstream, _CHAIN, None)
        if below is not None:
            steps += below[0]
            tail = below[1]
    return fuse(steps, tail)


def fuse(steps: list[tuple[str, Any]], tail: Forward | None) -> Forward:
    """One function running ``steps`` (a kind with an inline statement, and the node's ``fn``)
    in order, then ``tail(key, value)`` unless ``tail`` is None (a terminal step ends it)."""
    make = _factory(tuple(kind for kind, _ in steps), tail is not None)
    chain = make(tail, *(fn for _, fn in steps))
    setattr(chain, _CHAIN, (steps, tail))
    return chain


@functools.cache
def _factory(kinds: tuple[str, ...], calls_tail: bool) -> Callable[..., Forward]:
    """``make(tail, fn0, fn1, ...)`` returning the chain's function; the source is generated and
    compiled once per shape of chain, however many tasks use it."""
    names = [f"fn{i}" for i in range(len(kinds))]
    label = "chain_" + "_".join(kinds)  # tracebacks show the steps
    lines = ["def make(tail, " + ", ".join(names) + "):", f"    def {label}(key, value):"]
    for name, kind in zip(names, kinds, strict=True):
        statement = kind_of(kind).inline
        if statement is None:
            raise TopologyError(f"node kind {kind!r} has no inline statement to fuse")
        lines += ["        " + line for line in statement.format(fn=name).splitlines()]
    if calls_tail:
        lines.append("        tail(key, value)")
    lines.append(f"    return {label}")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<kstreamy {label}>", "exec"), namespace)
    return namespace["make"]
