"""Serializers/deserializers for record keys and values.

A serde is named by a short string (``"str"``, ``"json"``, ...) or given as an instance. ``None``
passes through every serde unchanged so tombstones survive a round trip.

A serde may say ``identity = True`` when its ``deserialize`` returns the bytes it is given
unchanged (the bytes serde): the runtime can then skip the call on the per-record path. The
attribute is optional; a serde without it is treated as doing real work.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any, Protocol, runtime_checkable

import fastavro
import orjson

from kstreamy.errors import ConfigError, SerdeError


@runtime_checkable
class Serde(Protocol):
    """Turns Python values into bytes and back."""

    name: str

    def serialize(self, value: Any) -> bytes | None: ...

    def deserialize(self, data: bytes | None) -> Any: ...


def is_identity(serde: Any) -> bool:
    """Whether ``serde.deserialize`` is a no-op, so a caller may use the raw bytes as they are."""
    return getattr(serde, "identity", False) is True


def fast_paths(serde: Any) -> tuple[Any, Any]:
    """``(fast_serialize, fast_deserialize)`` of a serde, each None when it has none.

    A fast path is a bare C function (``orjson.loads``, ``bytes.decode``) that either returns
    exactly what the serde's method would, or raises. The per-record path calls it directly and
    falls back to the full method only when it raises; the full method then returns the right
    value (a tombstone, say) or raises the SerdeError that names the problem. Fast serializers
    are never called with None (a tombstone stays None). This saves a Python call per record on
    each side of the commonest serdes. A subclass that overrides ``serialize`` or
    ``deserialize`` loses the inherited fast path of that side.
    """
    return _fast(serde, "fast_serialize", "serialize"), _fast(
        serde, "fast_deserialize", "deserialize"
    )


def _fast(serde: Any, fast: str, method: str) -> Any:
    for cls in type(serde).__mro__:
        if fast in cls.__dict__:
            # Valid only where the class that declares it also declares the method it stands for.
            if method in cls.__dict__ and getattr(type(serde), method) is cls.__dict__[method]:
                return getattr(serde, fast)
            return None
        if method in cls.__dict__:
            return None
    return None


class BytesSerde:
    name = "bytes"
    identity = True

    def serialize(self, value: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise SerdeError(f"bytes serde expects bytes, got {type(value).__name__}")

    def deserialize(self, data: bytes | None) -> Any:
        return data


class StrSerde:
    name = "str"
    identity = False
    fast_serialize = staticmethod(str.encode)
    fast_deserialize = staticmethod(bytes.decode)

    def serialize(self, value: Any) -> bytes | None:
        if type(value) is str:  # the hot path: one type check, no isinstance chain
            return value.encode()
        if value is None:
            return None
        if not isinstance(value, str):
            raise SerdeError(f"str serde expects str, got {type(value).__name__}")
        return value.encode()

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise SerdeError(f"not valid UTF-8: {exc}") from exc


_LONG = struct.Struct(">q")


class IntSerde:
    """8-byte big-endian signed integers, byte-compatible with Kafka's LongSerializer."""

    name = "int"
    identity = False

    def serialize(self, value: Any) -> bytes | None:
        if type(value) is int and -(2**63) <= value < 2**63:
            return _LONG.pack(value)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise SerdeError(f"int serde expects int, got {type(value).__name__}")
        try:
            return _LONG.pack(value)
        except struct.error as exc:
            raise SerdeError(f"int out of 64-bit range: {value}") from exc

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) != 8:
            raise SerdeError(f"int serde expects 8 bytes, got {len(data)}")
        return _LONG.unpack(data)[0]


_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS
_stdlib_decode = json.JSONDecoder().decode


class JsonSerde:
    """Compact UTF-8 JSON, written and read with orjson (several times faster than ``json``).

    Compatible with the compact output of Python's ``json`` (``separators=(",", ":")``,
    ``ensure_ascii=False``) for everything Kafka JSON usually holds; the differences:

    - dict keys that are not strings (int, float, bool, None) become strings as with ``json``;
    - NaN and +-Infinity are written as ``null`` (JSON has no such numbers); integers beyond
      64 bits cannot be written (an error naming the cause);
    - small floats may be written in another notation (``1e-05`` becomes ``0.00001``): the same
      number, other bytes, which matters only for store keys that hold such floats;
    - values ``json`` rejects but orjson knows are written: dataclasses, datetime, UUID, enums.

    Reading accepts everything ``json`` accepts: input orjson rejects (``NaN``, ``Infinity``,
    lone surrogates) is read again with ``json`` before it counts as invalid. Integers beyond
    64 bits are read as floats.
    """

    name = "json"
    identity = False
    fast_serialize = staticmethod(orjson.dumps)
    fast_deserialize = staticmethod(orjson.loads)

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            return orjson.dumps(value)
        except TypeError:
            try:  # dict keys that are not str; rare, and the option costs on every dict
                return orjson.dumps(value, option=_NON_STR_KEYS)
            except TypeError as exc:
                raise SerdeError(f"value is not JSON serializable: {exc}") from exc

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            try:
                return _stdlib_decode(bytes(data).decode())
            # UnicodeDecodeError is a ValueError too; RecursionError: nesting deeper than the
            # stack (orjson stops at 1024 levels, json at the recursion limit), which is a bad
            # record like any other, not a crash of the reader
            except (TypeError, ValueError, RecursionError):
                raise SerdeError(f"invalid JSON: {exc}") from exc


class AvroSerde:
    """Schemaless Avro (fastavro) with one fixed schema for writing and reading."""

    name = "avro"
    identity = False

    def __init__(self, schema: dict[str, Any]) -> None:
        try:
            self.schema = fastavro.parse_schema(schema)
        except Exception as exc:
            raise ConfigError(f"invalid Avro schema: {exc}") from exc

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, self.schema, value)
        except Exception as exc:
            raise SerdeError(f"value does not match the Avro schema: {exc}") from exc
        return buf.getvalue()

    def deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        buf = io.BytesIO(data)
        try:
            value = fastavro.schemaless_reader(buf, self.schema)
        except Exception as exc:
            raise SerdeError(f"invalid Avro data: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise SerdeError(f"invalid Avro data: {len(data) - buf.tell()} trailing bytes")
        return value


_BY_NAME: dict[str, type] = {
    "bytes": BytesSerde,
    "str": StrSerde,
    "int": IntSerde,
    "json": JsonSerde,
}


def resolve_serde(spec: str | Serde | None, default: str = "bytes") -> Serde:
    """Accept a serde name or instance; names are checked at build time, not at first record."""
    if spec is None:
        spec = default
    if spec == "windowed-json":
        from kstreamy.windowed_serde import WindowedJsonSerde

        return WindowedJsonSerde()
    if isinstance(spec, str):
        try:
            return _BY_NAME[spec]()
        except KeyError:
            known = ", ".join(sorted([*_BY_NAME, "windowed-json", "avro (AvroSerde(schema))"]))
            raise ConfigError(f"unknown serde {spec!r}; known: {known}") from None
    if isinstance(spec, Serde):
        return spec
    raise ConfigError(f"serde must be a name or have serialize/deserialize, got {spec!r}")
