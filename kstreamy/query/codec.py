"""Keys as they travel in a query URL, and values as they travel back in JSON.

A key in a URL is text. How it becomes the store's key depends on ``key_format``:

- ``text`` (default, for people with curl): read by the store's key serde type: as is for
  ``str``, a number for ``int``, JSON when it parses (else the text itself) for ``json`` and Avro,
  UTF-8 bytes for ``bytes``;
- ``json``: the text is JSON (what :class:`kstreamy.query.Client` sends for every non-bytes key,
  so ``"123"`` and ``123`` stay different keys);
- ``base64``: raw bytes given to the serde (for ``bytes`` keys that are not UTF-8).

The key is then serialized with the store's key serde, exactly as the application wrote it, and
that byte string decides the partition (murmur2) and the lookup. Values are deserialized with
the store's value serde; bytes that JSON cannot carry come back as ``{"$base64": "..."}``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kstreamy.errors import KStreamyError

KEY_FORMATS = ("text", "json", "base64")


class BadKey(KStreamyError):
    """The key in the request cannot be turned into a key of the store."""


def key_from_text(text: str, serde: Any, key_format: str = "text") -> Any:
    """The store key (a Python object for the key serde) that ``text`` stands for."""
    if key_format == "json":
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:  # nesting deeper than the stack
            raise BadKey(f"key_format=json but the key is not JSON: {exc}") from None
    if key_format == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise BadKey(f"key_format=base64 but the key is not base64: {exc}") from None
    if key_format != "text":
        raise BadKey(f"key_format must be one of {', '.join(KEY_FORMATS)}, got {key_format!r}")
    name = getattr(serde, "name", None)
    if name == "int":
        try:
            return int(text)
        except ValueError:
            raise BadKey(f"the store's keys are integers, got {text!r}") from None
    if name == "bytes":
        return text.encode()
    if name in ("json", "avro"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


def serialize_key(key: Any, serde: Any) -> bytes:
    try:
        data = serde.serialize(key)
    except Exception as exc:
        raise BadKey(f"cannot serialize key {key!r} with the store's key serde: {exc}") from None
    if data is None:
        raise BadKey("a null key cannot be looked up")
    return data


def key_to_text(key: Any) -> tuple[str, str]:
    """``(text, key_format)`` for a Python key, as the client sends it."""
    if isinstance(key, (bytes, bytearray)):
        return base64.b64encode(bytes(key)).decode(), "base64"
    return json.dumps(key, separators=(",", ":")), "json"


def jsonable(value: Any) -> Any:
    """``value`` with bytes (at any depth) as ``{"$base64": ...}``, so json.dumps accepts it."""
    if isinstance(value, (bytes, bytearray)):
        return {"$base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def from_jsonable(value: Any) -> Any:
    """Invert :func:`jsonable` (the client's side)."""
    if isinstance(value, dict):
        if set(value) == {"$base64"}:
            return base64.b64decode(value["$base64"])
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value
