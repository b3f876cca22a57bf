"""Avro with a Confluent schema registry: the wire format other Kafka tools read and write.

Each record is one magic byte ``0``, the 4-byte big-endian id of its writer schema in the
registry, then the Avro body. Serializing registers the schema (or looks it up) under a
subject chosen by the subject name strategy; deserializing fetches the writer schema by id and,
when a reader schema is given, resolves the record to it by Avro's schema evolution rules
(fields added with defaults are filled in, removed fields dropped). A record that cannot be
read raises :class:`~kstreamy.errors.SerdeError`, so it goes through the bad-input policy.

The work is done by confluent-kafka's ``AvroSerializer`` / ``AvroDeserializer`` and its
registry client (``pip install kstreamy[registry]``); ``mock://`` URLs give its in-memory
registry, for tests. Without a registry, use :class:`~kstreamy.serde.AvroSerde`.

The subject depends on the topic and on whether the serde writes keys or values
(``orders-value``), so the runtime binds the serde to each source and sink topic through
``for_topic`` (see :mod:`kstreamy.serde_binding`). A serde that is not bound to a topic (a
state store's) can only write with ``subject_name_strategy="record"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kstreamy.errors import ConfigError, SerdeError

try:
    from confluent_kafka.schema_registry import (
        SchemaRegistryClient,
        record_subject_name_strategy,
        topic_record_subject_name_strategy,
        topic_subject_name_strategy,
    )
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError as exc:  # the optional extra is not installed
    raise ImportError(
        "avro_registry needs confluent-kafka's schema registry support: "
        "pip install 'kstreamy[registry]'"
    ) from exc

SubjectNameStrategy = Callable[[SerializationContext | None, str | None], str | None]

STRATEGIES: dict[str, SubjectNameStrategy] = {
    "topic": topic_subject_name_strategy,
    "record": record_subject_name_strategy,
    "topic_record": topic_record_subject_name_strategy,
}
"""As in confluent-kafka: ``<topic>-key|value``, ``<record full name>``, and
``<topic>-<record full name>``."""

MAGIC_BYTE = 0


def avro_registry(
    registry: str | Mapping[str, Any] | SchemaRegistryClient,
    schema: str | Mapping[str, Any] | None = None,
    *,
    subject_name_strategy: str | SubjectNameStrategy = "topic",
    reader_schema: str | Mapping[str, Any] | None = None,
    auto_register_schemas: bool = True,
    use_latest_version: bool = False,
) -> AvroRegistrySerde:
    """A serde for Avro records in the Confluent wire format.

    ``registry``: the registry URL (``http://registry:8081``, ``mock://name`` for tests), a
    client configuration dict (for authentication, e.g. ``basic.auth.user.info``), or a
    ``SchemaRegistryClient`` to share. ``schema``: the writer schema (needed to serialize).
    ``reader_schema``: read every record as this schema (Avro resolution); by default records
    are returned as written. ``subject_name_strategy``: ``"topic"``, ``"record"``,
    ``"topic_record"`` or a confluent-kafka strategy function.
    """
    if isinstance(subject_name_strategy, str):
        try:
            strategy = STRATEGIES[subject_name_strategy]
        except KeyError:
            known = ", ".join(STRATEGIES)
            raise ConfigError(
                f"unknown subject_name_strategy {subject_name_strategy!r}; known: {known}"
            ) from None
    elif callable(subject_name_strategy):
        strategy = subject_name_strategy
    else:
        raise ConfigError(
            f"subject_name_strategy must be a name or function, got {subject_name_strategy!r}"
        )
    return AvroRegistrySerde(
        _client(registry),
        _schema_text(schema),
        _schema_text(reader_schema),
        strategy,
        {"auto.register.schemas": auto_register_schemas, "use.latest.version": use_latest_version},
    )


class AvroRegistrySerde:
    """Build with :func:`avro_registry`. Bound to a topic by ``for_topic``; thread-compatible
    like the rest of a task (one instance per task and topic)."""

    name = "avro_registry"

    def __init__(
        self,
        client: SchemaRegistryClient,
        schema: str | None,
        reader_schema: str | None,
        strategy: SubjectNameStrategy,
        conf: dict[str, Any],
        topic: str | None = None,
        is_key: bool = False,
    ) -> None:
        self.client = client
        self.schema = schema
        self.topic = topic
        self.is_key = is_key
        self._reader_schema = reader_schema
        self._strategy = strategy
        self._conf = conf
        self._bound: dict[tuple[str, bool], AvroRegistrySerde] = {}
        field = MessageField.KEY if is_key else MessageField.VALUE
        self._ctx = SerializationContext(topic, field) if topic is not None else None
        self._serializer: AvroSerializer | None = None
        try:
            self._deserializer = AvroDeserializer(
                client,
                reader_schema,
                conf={"subject.name.strategy": strategy, "use.latest.version": False},
            )
        except Exception as exc:
            raise ConfigError(f"invalid Avro reader schema: {exc}") from exc
        if schema is not None:
            try:
                self._serializer = AvroSerializer(
                    client, schema, conf={**conf, "subject.name.strategy": strategy}
                )
            except Exception as exc:
                raise ConfigError(f"invalid Avro schema: {exc}") from exc

    def for_topic(self, topic: str, is_key: bool) -> AvroRegistrySerde:
        """This serde bound to ``topic``'s key or value subject (one copy per topic/field)."""
        bound = self._bound.get((topic, is_key))
        if bound is None:
            bound = AvroRegistrySerde(
                self.client,
                self.schema,
                self._reader_schema,
                self._strategy,
                self._conf,
                topic,
                is_key,
            )
            self._bound[(topic, is_key)] = bound
        return bound

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        if self._serializer is None:
            raise SerdeError("avro_registry serde without a schema cannot write; pass schema=")
        if self._ctx is None and self._strategy is not record_subject_name_strategy:
            raise SerdeError(
                "avro_registry serde used without a topic (as a state store's serde?): its "
                "subject needs one; use AvroSerde(schema) for stores, or "
                "subject_name_strategy='record'"
            )
        try:
            return self._serializer(value, self._ctx)
        except Exception as exc:
            raise SerdeError(f"cannot write Avro record{self._where()}: {exc}") from exc

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < 5 or data[0] != MAGIC_BYTE:
            first = data[:1].hex() or "nothing"
            raise SerdeError(
                f"not in the schema registry wire format{self._where()}: expected magic byte 00 "
                f"and a 4-byte schema id, got {first} ({len(data)} bytes)"
            )
        try:
            return self._deserializer(data, self._ctx)
        except Exception as exc:
            schema_id = int.from_bytes(data[1:5], "big")
            raise SerdeError(
                f"cannot read Avro record with schema id {schema_id}{self._where()}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _where(self) -> str:
        if self.topic is None:
            return ""
        return f" ({'key' if self.is_key else 'value'} of {self.topic})"


_CLIENTS: dict[str, SchemaRegistryClient] = {}
"""One client per URL in a process: serdes of one registry share its schema caches (and
``mock://`` serdes see the same in-memory registry, as they would a real one)."""


def _client(registry: str | Mapping[str, Any] | SchemaRegistryClient) -> SchemaRegistryClient:
    if isinstance(registry, SchemaRegistryClient):
        return registry
    if isinstance(registry, str) and registry in _CLIENTS:
        return _CLIENTS[registry]
    conf = {"url": registry} if isinstance(registry, str) else dict(registry)
    # new_client also knows mock:// URLs (the in-memory registry)
    factory = getattr(SchemaRegistryClient, "new_client", SchemaRegistryClient)
    try:
        client = factory(conf)
    except Exception as exc:
        raise ConfigError(f"invalid schema registry settings {conf.get('url')!r}: {exc}") from exc
    if isinstance(registry, str):
        _CLIENTS[registry] = client
    return client


def _schema_text(schema: str | Mapping[str, Any] | None) -> str | None:
    if schema is None or isinstance(schema, str):
        return schema
    return json.dumps(schema)
