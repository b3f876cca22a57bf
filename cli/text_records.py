"""Records as lines of text for ``kstreamy topics produce`` and ``tail``.

One record per line, ``key<TAB>value`` (the separator can be changed); a line without the
separator is a value without a key. With an application given, the text is turned into the
Python value its serde expects for the topic (JSON for JSON and Avro serdes, a number for
``int``, the text itself for ``str`` and ``bytes``) and serialized with that serde, so what
goes onto the topic is exactly what the application reads; ``tail`` does the reverse.
"""

from __future__ import annotations

import json
from typing import Any

from kstreamy import App
from kstreamy.errors import KStreamyError
from kstreamy.serde import BytesSerde, Serde
from kstreamy.serde_binding import bind

_JSON_SERDES = {"json", "avro", "avro_registry"}


def topic_serdes(app: App | None, topic: str, for_writing: bool) -> tuple[Serde, Serde]:
    """The key and value serdes ``app`` uses for ``topic`` (UTF-8 text without an app).

    Producing prefers the source that reads the topic, tailing the sink that writes it; either
    does when the other is missing.
    """
    if app is None:
        return BytesSerde(), BytesSerde()
    nodes = app.topology.nodes.values()
    sources = [n for n in nodes if n.kind == "source" and topic in n.params["topics"]]
    sinks = [n for n in nodes if n.kind == "sink" and n.params["topic"] == topic]
    found = (sources + sinks) if for_writing else (sinks + sources)
    if not found:
        used = sorted(
            {t for n in nodes if n.kind == "source" for t in n.params["topics"]}
            | {n.params["topic"] for n in nodes if n.kind == "sink"}
        )
        raise KStreamyError(
            f"{app.application_id} neither reads nor writes {topic}; its topics: {', '.join(used)}"
        )
    params = found[0].params
    return bind(params["key_serde"], topic, True), bind(params["value_serde"], topic, False)


def split_line(line: str, separator: str) -> tuple[str | None, str]:
    key, sep, value = line.partition(separator)
    if not sep:
        return None, line
    return (key or None), value


def from_text(serde: Serde, text: str | None) -> Any:
    """The value ``serde`` expects, from its text form; ValueError says what is wrong."""
    if text is None:
        return None
    name = getattr(serde, "name", "")
    if name in ("str", "bytes"):
        return text if name == "str" else text.encode()
    if name == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        if name in _JSON_SERDES:
            raise ValueError(f"expected JSON, got {text!r}: {exc}") from None
        return text  # a serde of the user's own: give it the text


def to_text(value: Any) -> str:
    """One line of text for a deserialized key or value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="backslashreplace")
        # Control bytes (binary data such as 8-byte counts) as escapes, not raw to a terminal
        return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)
