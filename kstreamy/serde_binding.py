"""Serdes that need their topic: the optional ``for_topic(topic, is_key)`` hook.

Most serdes turn values into bytes the same way whatever the topic. Some cannot: a schema
registry serde registers and looks up schemas under a subject named after the topic and
whether it is the key or the value (``orders-value``). Such a serde has a method
``for_topic(topic: str, is_key: bool) -> Serde`` returning a copy bound to that topic and
field; the runtime calls it once per source and sink when it compiles a task, never per
record. Serdes without the method are used as they are.
"""

from __future__ import annotations

from kstreamy.serde import Serde


def bind(serde: Serde, topic: str, is_key: bool) -> Serde:
    """``serde`` bound to ``topic`` and the key or value field, if it wants to be."""
    for_topic = getattr(serde, "for_topic", None)
    return for_topic(topic, is_key) if for_topic is not None else serde
