"""Reading a savepoint's state as values, without a broker or a running application.

Keys and values are decoded with the application's serdes when the application is given, else
with the built-in serde the manifest names (str, int, json, bytes); a value no serde can decode
is shown as base64. Window store keys are split into the record key and the window start (and
end, when the application is given: its windowed step knows the window size); session store
keys into the record key and the session's start and end.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

from kstreamy.query.windows import window_size_ms
from kstreamy.savepoint.errors import SavepointError
from kstreamy.savepoint.partitioner import partitioner
from kstreamy.savepoint.reader import Savepoint
from kstreamy.savepoint.topology_info import serde_marker
from kstreamy.serde import Serde, resolve_serde
from kstreamy.state.window_store import decode_time, key_prefix
from kstreamy.topology import Topology

BUILT_IN = ("bytes", "str", "int", "json")


class StateView:
    def __init__(self, savepoint: Savepoint, store: str, topology: Topology | None = None):
        manifest = savepoint.manifest
        if store not in manifest.stores:
            known = ", ".join(sorted(manifest.stores)) or "none"
            raise SavepointError(
                f"savepoint {savepoint.location} has no store {store!r} (has: {known})"
            )
        self.savepoint = savepoint
        self.store = store
        self.info = manifest.stores[store]
        self.key_serde = self._serde("key", topology)
        self.value_serde = self._serde("value", topology)
        # A window store does not record its window size: the application's windowed step does.
        self.window_size_ms = (
            window_size_ms(topology, store)
            if topology is not None and self.info.kind == "window"
            else None
        )

    def _serde(self, part: str, topology: Topology | None) -> Serde | None:
        marker = getattr(self.info, f"{part}_serde")
        spec = topology.stores.get(self.store) if topology is not None else None
        if spec is not None:
            serde = getattr(spec, f"{part}_serde")
            if serde_marker(serde) != marker:
                raise SavepointError(
                    f"store {self.store!r}: the application's {part} serde "
                    f"{serde_marker(serde)} differs from the savepoint's {marker}"
                )
            return serde
        name = marker.get("name")
        return resolve_serde(name) if name in BUILT_IN else None

    def parse_key(self, text: str) -> bytes:
        """The key as the store holds it, from command-line text."""
        serde = self.key_serde
        if serde is None:
            raise SavepointError(
                f"store {self.store!r} has keys of serde {self.info.key_serde.get('name')!r}: "
                "give the application (module:app) to encode them"
            )
        name = getattr(serde, "name", "")
        if name == "int":
            value: Any = int(text)
        elif name in ("json", "avro"):
            value = json.loads(text)
        elif name == "bytes":
            value = text.encode()
        else:
            value = text
        raw = serde.serialize(value)
        return b"" if raw is None else raw

    def _tasks_for(self, record_key: bytes) -> list[str]:
        tasks = self.savepoint.tasks_with_store(self.store)
        if self.info.key_layout != "record_key" or not record_key:
            return tasks
        manifest = self.savepoint.manifest
        count = manifest.subtopology(self.info.subtopology).partitions
        partition = partitioner(manifest.partitioner)(record_key, count)
        return [t for t in tasks if manifest.tasks[t].partition == partition]

    def lookup(self, record_key: bytes) -> list[dict[str, Any]]:
        """Entries for one record key: one for a key-value store, every window of a window or
        session store."""
        found = []
        prefix = _WINDOW_ENTRY + key_prefix(record_key)
        for tid in self._tasks_for(record_key):
            for key, value in self.savepoint.store_entries(tid, self.store):
                if self.info.kind in _WINDOWED:
                    if key.startswith(prefix):
                        found.append(self.decode(tid, key, value))
                elif key == record_key:
                    found.append(self.decode(tid, key, value))
        return found

    def entries(self) -> Iterator[dict[str, Any]]:
        windowed = self.info.kind in _WINDOWED
        for tid in self.savepoint.tasks_with_store(self.store):
            for key, value in self.savepoint.store_entries(tid, self.store):
                if windowed and not key.startswith(_WINDOW_ENTRY):
                    continue  # the time index and the sweep progress, not windows
                yield self.decode(tid, key, value)

    def decode(self, task: str, key: bytes, value: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"task": task}
        if self.info.kind in _WINDOWED:
            (length,) = _LEN.unpack_from(key, 1)
            times = key[5 + length :]
            key = key[5 : 5 + length]
            if self.info.kind == "window":
                start = decode_time(times)
                entry["window"] = {"start_ms": start}
                if self.window_size_ms is not None:
                    entry["window"]["end_ms"] = start + self.window_size_ms
            else:
                end, start = decode_time(times), decode_time(times, 8)
                entry["window"] = {"start_ms": start, "end_ms": end}
            entry["timestamp"] = start
        entry["key"] = _decoded(self.key_serde, key)
        entry["value"] = _decoded(self.value_serde, value)
        return entry


_WINDOWED = ("window", "session")
_WINDOW_ENTRY = b"\x01"  # window and session stores: [01][length][key][times]
_LEN = struct.Struct(">I")


def _decoded(serde: Serde | None, data: bytes) -> Any:
    if serde is not None:
        try:
            value = serde.deserialize(data)
            json.dumps(value)
            return value
        except Exception:
            pass
    return {"base64": base64.b64encode(data).decode()}
