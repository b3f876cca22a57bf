"""Reading a key's windows from a committed window or session store.

The stores' byte layouts are owned by :mod:`kstreamy.state.window_store` and
:mod:`kstreamy.state.session_store`; this module reads them through those classes over the
committed store (read-only: only ``get`` and ``items`` are used), so queries stay in step with
the layout. A window store does not record its window size; it comes from the windowed step
that owns the store.
"""

from __future__ import annotations

from typing import Any

from kstreamy.query.codec import jsonable
from kstreamy.state.session_store import SessionStore
from kstreamy.state.store import KeyValueStore
from kstreamy.state.window_store import WindowStore
from kstreamy.topology import Topology

WINDOWED_KINDS = ("window", "session")


def window_size_ms(topology: Topology, store: str) -> int | None:
    """The size of the windows kept in ``store`` (None if no windowed step owns it)."""
    for node in topology.nodes.values():
        windows = node.params.get("windows")
        if node.params.get("store") == store and windows is not None:
            return getattr(windows, "size_ms", None)
    return None


def read_windows(
    kv: KeyValueStore,
    key: bytes,
    spec: Any,
    size_ms: int | None,
    from_ms: int,
    to_ms: int,
) -> list[dict[str, Any]]:
    """Windows of ``key`` as ``{"start", "end", "value"}`` (epoch ms), by start.

    Window stores: windows starting in ``[from_ms, to_ms]`` (Kafka Streams' ``fetch``).
    Session stores: sessions overlapping ``[from_ms, to_ms]``, ordered by end.
    """
    decode = spec.value_serde.deserialize
    if spec.kind == "session":
        rows = SessionStore(kv).find_sessions(key, from_ms, to_ms)
    else:
        if not size_ms:
            raise ValueError(f"no windowed step owns store {spec.name!r}: window size unknown")
        rows = list(WindowStore(kv, size_ms).fetch(key, from_ms, to_ms))
    return [{"start": s, "end": e, "value": jsonable(decode(v))} for s, e, v in rows]
