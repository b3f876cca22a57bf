"""kstreamy: Kafka-Streams-style stream processing for Python."""

from kstreamy.app import App
from kstreamy.config import AppConfig
from kstreamy.dsl import BranchedStream, GroupedStream, Stream, Table
from kstreamy.errors import (
    AuthenticationError,
    ConfigError,
    DeliveryError,
    KStreamyError,
    MissingTopicError,
    RecordError,
    SerdeError,
    TopologyError,
)
from kstreamy.processor import (
    ListState,
    MapState,
    ProcessFunction,
    ProcessorContext,
    StoreView,
    ValueState,
)
from kstreamy.serde import AvroSerde, BytesSerde, IntSerde, JsonSerde, Serde, StrSerde
from kstreamy.topology import StoreSpec

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``avro_registry`` needs the optional ``registry`` extra: imported on first use only."""
    if name in ("avro_registry", "AvroRegistrySerde"):
        from kstreamy import serde_registry

        return getattr(serde_registry, name)
    raise AttributeError(f"module 'kstreamy' has no attribute {name!r}")


__all__ = [
    "App",
    "AppConfig",
    "AuthenticationError",
    "AvroRegistrySerde",
    "AvroSerde",
    "BranchedStream",
    "BytesSerde",
    "ConfigError",
    "DeliveryError",
    "GroupedStream",
    "IntSerde",
    "JsonSerde",
    "KStreamyError",
    "ListState",
    "MapState",
    "MissingTopicError",
    "ProcessFunction",
    "ProcessorContext",
    "RecordError",
    "Serde",
    "SerdeError",
    "StoreSpec",
    "StoreView",
    "StrSerde",
    "Stream",
    "Table",
    "TopologyError",
    "ValueState",
    "avro_registry",
]
