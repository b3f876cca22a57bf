"""The fluent DSL: thin builders that add nodes to the topology IR."""

from kstreamy.dsl.branching import BranchedStream
from kstreamy.dsl.grouped import GroupedStream
from kstreamy.dsl.stream import Stream
from kstreamy.dsl.table import Table

__all__ = ["BranchedStream", "GroupedStream", "Stream", "Table"]
