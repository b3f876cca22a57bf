"""kstreamy: Kafka-Streams-style stream processing for Python."""

from kstreamy.app import App
from kstreamy.config import AppConfig
from kstreamy.dsl import BranchedStream, Stream
from kstreamy.errors import (
    ConfigError,
    DeliveryError,
    KStreamyError,
    MissingTopicError,
    RecordError,
    SerdeError,
    TopologyError,
)
from kstreamy.serde import AvroSerde, BytesSerde, IntSerde, JsonSerde, Serde, StrSerde

__version__ = "0.1.0"

__all__ = [
    "App",
    "AppConfig",
    "AvroSerde",
    "BranchedStream",
    "BytesSerde",
    "ConfigError",
    "DeliveryError",
    "IntSerde",
    "JsonSerde",
    "KStreamyError",
    "MissingTopicError",
    "RecordError",
    "Serde",
    "SerdeError",
    "StrSerde",
    "Stream",
    "TopologyError",
]
