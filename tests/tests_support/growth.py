"""Growing a topic's partition count in tests: the library's own testing helper."""

from kstreamy.testing.growth import grow_topic

__all__ = ["grow_topic"]
