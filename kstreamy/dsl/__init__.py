"""The fluent DSL: thin builders that add nodes to the topology IR."""

from kstreamy.dsl.stream import BranchedStream, Stream

__all__ = ["BranchedStream", "Stream"]
