"""Answers to interactive queries, independent of HTTP.

A key lives in exactly one task: the partition its serialized key hashes to (murmur2, as the
producers partition it) of the sub-topology that holds the store. This instance answers when it
runs that task, from the store itself (state as of the last commit, never the task's
uncommitted writes); otherwise it says which instance does (a redirect to the owner's endpoint,
known from the endpoints topic), or that nobody can answer right now (restoring, rebalancing).

Window and session stores answer ``/windows`` (see :mod:`kstreamy.query.windows`) and
key-value stores answer 404 "not a window store" there.
"""

from __future__ import annotations

import base64
import dataclasses
import heapq
from collections.abc import Callable
from typing import Any

from kstreamy.partitioner import partition_for
from kstreamy.query.codec import BadKey, jsonable, key_from_text, serialize_key
from kstreamy.query.endpoints import owner_of
from kstreamy.query.windows import WINDOWED_KINDS, read_windows, window_size_ms
from kstreamy.runtime.local_stores import LocalStores, StoreNotHere
from kstreamy.state.store import KeyValueStore

DEFAULT_RANGE_LIMIT = 1000
MAX_RANGE_LIMIT = 10000


def store_kind(spec: Any) -> str:
    return getattr(spec, "kind", "key_value")


@dataclasses.dataclass
class Answer:
    status: int
    body: dict[str, Any]
    location: str | None = None


def _error(status: int, code: str, message: str, **extra: Any) -> Answer:
    return Answer(status, {"error": code, "message": message, **extra})


class QueryService:
    def __init__(
        self,
        stores: LocalStores,
        instance_id: str,
        directory: Callable[[], dict[str, dict[str, Any]]],
    ) -> None:
        self.stores = stores
        self.instance_id = instance_id
        self.directory = directory
        """Instance id -> endpoint record, as read from the endpoints topic."""

    # -- entry points (one per route) ------------------------------------------------------

    def list_stores(self) -> Answer:
        topology_stores = self.stores.known()
        return Answer(
            200,
            {
                "instance_id": self.instance_id,
                "stores": {
                    name: {
                        "kind": store_kind(spec),
                        "partitions": self.stores.partitions(name),
                        "local_tasks": self.stores.local_tasks(name),
                    }
                    for name, spec in topology_stores.items()
                },
            },
        )

    def get(self, store: str, key_text: str, key_format: str, path: str) -> Answer:
        found = self._locate(store, key_text, key_format, path, kinds=("key_value",))
        if isinstance(found, Answer):
            return found
        spec, key, key_bytes, task, partition = found

        def read(kv: KeyValueStore) -> Answer:
            raw = kv.get(key_bytes)
            where = {"store": store, "key": jsonable(key), "task": task, "partition": partition}
            if raw is None:
                return _error(404, "key_not_found", f"no value for this key in {store}", **where)
            value = spec.value_serde.deserialize(raw)
            return Answer(200, {**where, "value": jsonable(value), "instance_id": self.instance_id})

        return self._read(store, task, path, read)

    def windows(
        self, store: str, key_text: str, key_format: str, params: dict[str, str], path: str
    ) -> Answer:
        spec = self.stores.spec(store)
        if spec is None:
            return self._unknown_store(store)
        kind = store_kind(spec)
        if kind not in WINDOWED_KINDS:
            return _error(404, "not_a_window_store", f"{store} is a {kind} store")
        size_ms = window_size_ms(self.stores.topology, store)
        try:
            from_ms = int(params.get("from", -(2**63)))
            to_ms = int(params.get("to", 2**63 - 1))
        except ValueError:
            return _error(400, "bad_request", "from and to are epoch milliseconds")
        found = self._locate(store, key_text, key_format, path, kinds=(kind,))
        if isinstance(found, Answer):
            return found
        _, key, key_bytes, task, partition = found

        def read(kv: KeyValueStore) -> Answer:
            windows = read_windows(kv, key_bytes, spec, size_ms, from_ms, to_ms)
            return Answer(
                200,
                {
                    "store": store,
                    "key": jsonable(key),
                    "task": task,
                    "partition": partition,
                    "windows": windows,
                    "instance_id": self.instance_id,
                },
            )

        return self._read(store, task, path, read)

    def range(self, store: str, params: dict[str, str]) -> Answer:
        """Keys ``from <= key <= to`` (serialized byte order) in this instance's tasks only;
        the client asks every instance and merges."""
        spec = self.stores.spec(store)
        if spec is None:
            return self._unknown_store(store)
        if store_kind(spec) != "key_value":
            return _error(400, "bad_request", f"{store} is a {store_kind(spec)} store")
        key_format = params.get("key_format", "text")
        try:
            limit = min(int(params.get("limit", DEFAULT_RANGE_LIMIT)), MAX_RANGE_LIMIT)
            start = end = None
            if "from" in params:
                start = self._key_bytes(spec, params["from"], key_format)
            if "to" in params:
                # Inclusive: the smallest byte string after ``to`` is the exclusive bound.
                end = self._key_bytes(spec, params["to"], key_format) + b"\x00"
        except (BadKey, ValueError) as exc:
            return _error(400, "bad_request", str(exc))
        runs, covered = [], []
        for task in self.stores.local_tasks(store):
            try:
                with self.stores.reading(store, task) as kv:
                    runs.append(_take(kv.items(start, end), limit + 1))
                covered.append(task)
            except StoreNotHere:
                continue  # moved away since the list was taken: not covered
            except RuntimeError:
                return _error(503, "busy", "the store changed during the read; retry")
        merged = list(heapq.merge(*runs))
        items = [
            {
                "key": jsonable(spec.key_serde.deserialize(k)),
                "value": jsonable(spec.value_serde.deserialize(v)),
                "key_bytes": base64.b64encode(k).decode(),
            }
            for k, v in merged[:limit]
        ]
        return Answer(
            200,
            {
                "store": store,
                "instance_id": self.instance_id,
                "tasks": covered,
                "partitions": self.stores.partitions(store),
                "items": items,
                "truncated": len(merged) > limit,
            },
        )

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _key_bytes(spec: Any, text: str, key_format: str) -> bytes:
        return serialize_key(key_from_text(text, spec.key_serde, key_format), spec.key_serde)

    def _unknown_store(self, store: str) -> Answer:
        known = ", ".join(sorted(self.stores.known())) or "none"
        return _error(404, "unknown_store", f"no store named {store!r} (stores: {known})")

    def _locate(
        self, store: str, key_text: str, key_format: str, path: str, kinds: tuple[str, ...]
    ) -> Answer | tuple[Any, Any, bytes, str, int]:
        spec = self.stores.spec(store)
        if spec is None:
            return self._unknown_store(store)
        kind = store_kind(spec)
        if kind not in kinds:
            hint = "use /windows" if kind in WINDOWED_KINDS else "it cannot be queried by key"
            return _error(400, "bad_request", f"{store} is a {kind} store: {hint}")
        try:
            key = key_from_text(key_text, spec.key_serde, key_format)
            key_bytes = serialize_key(key, spec.key_serde)
        except BadKey as exc:
            return _error(400, "bad_key", str(exc))
        partition = partition_for(key_bytes, self.stores.partitions(store))
        return spec, key, key_bytes, self.stores.task_for(store, partition), partition

    def _read(self, store: str, task: str, path: str, read: Callable[[KeyValueStore], Answer]):
        try:
            with self.stores.reading(store, task) as kv:
                return read(kv)
        except StoreNotHere as exc:
            if exc.restoring:
                return _error(503, "restoring", f"task {task} is restoring its state here")
            return self._elsewhere(task, path)
        except RuntimeError:
            return _error(503, "busy", "the store changed during the read; retry")

    def _elsewhere(self, task: str, path: str) -> Answer:
        owner = owner_of(self.directory(), task, exclude=self.instance_id)
        if owner is None or not owner.get("url"):
            return _error(
                503,
                "not_available",
                f"no instance serves task {task} right now (rebalancing, or its owner has no "
                "query port)",
                task=task,
            )
        return Answer(
            307,
            {
                "error": "moved",
                "message": f"task {task} runs on instance {owner.get('instance_id')}",
                "task": task,
                "owner": {"instance_id": owner.get("instance_id"), "url": owner["url"]},
            },
            location=owner["url"].rstrip("/") + path,
        )


def _take(items: Any, n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out
