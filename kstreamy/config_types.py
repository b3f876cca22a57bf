"""Does a setting's value fit its type hint? The check behind every AppConfig, wherever the
value came from; one message per problem, naming the setting and what it expects."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from kstreamy.config_security import masked
from kstreamy.latency_profiles import LatencyProfile

ProcessingGuarantee = Literal["at_least_once", "exactly_once"]
ErrorPolicy = Literal["fail", "skip", "dead_letter"]
OffsetReset = Literal["earliest", "latest"]
LogFormat = Literal["text", "json"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"]


def check_type(key: str, value: Any, annotation: str) -> list[str]:
    expected = _annotation_types(annotation)
    allowed_literals = _literal_values(annotation)
    shown = repr(masked(key, value))
    if allowed_literals is not None:
        if value not in allowed_literals:
            choices = ", ".join(repr(v) for v in allowed_literals if v is not None)
            return [f"{key} must be one of {choices}, got {shown}"]
        return []
    if value is None and type(None) in expected:
        return []
    if isinstance(value, bool) and bool not in expected:
        return [f"{key} must be {_type_names(expected)}, got bool {shown}"]
    if not isinstance(value, tuple(t for t in expected if t is not type(None))):
        return [f"{key} must be {_type_names(expected)}, got {type(value).__name__} {shown}"]
    return []


_LITERALS = {
    "ProcessingGuarantee": ProcessingGuarantee,
    "ErrorPolicy": ErrorPolicy,
    "OffsetReset": OffsetReset,
    "LogFormat": LogFormat,
    "SecurityProtocol": SecurityProtocol,
    "SaslMechanism": SaslMechanism,
    "LatencyProfile": LatencyProfile,
}
_SIMPLE = {"int": int, "str": str, "None": type(None), "bool": bool, "Path": Path}


def _literal_values(annotation: str) -> tuple[Any, ...] | None:
    """The allowed values of a Literal setting (with None when it is optional), else None."""
    parts = [part.strip() for part in annotation.split("|")]
    literal = _LITERALS.get(parts[0])
    if literal is None:
        return None
    return get_args(literal) + ((None,) if "None" in parts[1:] else ())


def _annotation_types(annotation: str) -> tuple[type, ...]:
    if annotation.startswith("dict"):
        return (dict,)
    types = []
    for part in annotation.split("|"):
        part = part.strip()
        types.append(_SIMPLE.get(part, object))
    if str in types:
        types.append(Path)
    return tuple(types)


def _type_names(types: tuple[type, ...]) -> str:
    names = [t.__name__ if t is not type(None) else "None" for t in types if t is not Path]
    return " or ".join(names)
