"""Tools for testing kstreamy applications: a broker-free driver and an embedded broker."""

from kstreamy.testing.broker import EmbeddedBroker, find_broker_binary
from kstreamy.testing.driver import OutputRecord, TestDriver

__all__ = ["EmbeddedBroker", "OutputRecord", "TestDriver", "find_broker_binary"]
