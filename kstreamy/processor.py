"""The Processor API: a ProcessFunction sees every record and keeps keyed state in stores.

Modelled on Flink's KeyedProcessFunction: ``process(key, value, ctx)`` is called per record;
``ctx.store(name)`` is a typed key-value view of a store of this task; ``ctx.value_state``,
``ctx.map_state`` and ``ctx.list_state`` are views scoped to the current record's key, so
function code never builds composite keys by hand.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from kstreamy.serde import Serde, resolve_serde
from kstreamy.state.transaction import StoreTransaction

_LEN = struct.Struct(">I")


class ProcessFunction:
    """Subclass and override :meth:`process`; :meth:`open` and :meth:`close` are optional."""

    def open(self, ctx: ProcessorContext) -> None:
        """Called once per task before its first record (stores are ready)."""

    def process(self, key: Any, value: Any, ctx: ProcessorContext) -> None:
        raise NotImplementedError("a ProcessFunction must implement process(key, value, ctx)")

    def close(self) -> None:
        """Called when the task is closed (shutdown or partition moved away)."""

    def on_timer(self, timestamp: float, ctx: ProcessorContext) -> None:
        """Called when a timer registered with ``ctx.timers`` fires, with ``ctx.key`` set to
        the timer's key (its state is in scope) and ``timestamp`` the timer's time in seconds.
        Overriding it gives the step a timer store ``<step name>-timers``."""


class StoreView:
    """Typed access to a store: keys and values go through the store's serdes."""

    def __init__(self, txn: StoreTransaction, key_serde: Serde, value_serde: Serde) -> None:
        self._txn = txn
        self._key = key_serde
        self._value = value_serde

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self._txn.get(self._key.serialize(key))
        return default if raw is None else self._value.deserialize(raw)

    def put(self, key: Any, value: Any) -> None:
        if value is None:
            self.delete(key)
        else:
            self._txn.put(self._key.serialize(key), self._value.serialize(value))

    def delete(self, key: Any) -> None:
        self._txn.delete(self._key.serialize(key))

    def __contains__(self, key: Any) -> bool:
        return self._txn.get(self._key.serialize(key)) is not None

    def items(self) -> Iterator[tuple[Any, Any]]:
        """All entries in key-byte order."""
        for raw_key, raw_value in self._txn.items():
            yield self._key.deserialize(raw_key), self._value.deserialize(raw_value)


class _KeyedState:
    """Base of the views scoped to the current key: ``[len][state name][len][key]...``.

    A view lives as long as its task (``ctx.value_state(...)`` returns the same object each
    time) and rebuilds its key prefix only when the current key's bytes change.
    """

    _tail = b""  # appended to the prefix; a map's entries follow a separator

    def __init__(self, ctx: ProcessorContext, txn: StoreTransaction, state: str, serde: Serde):
        self._ctx = ctx
        self._txn = txn
        name = state.encode()
        self._head = _LEN.pack(len(name)) + name
        self._serde = serde
        self._prefix_of: bytes | None = None
        self._prefix_bytes = b""

    def _prefix(self) -> bytes:
        key = self._ctx.key_bytes()
        if key is not self._prefix_of:  # same bytes object: same key, prefix still valid
            self._prefix_of = key
            self._prefix_bytes = self._head + _LEN.pack(len(key)) + key + self._tail
        return self._prefix_bytes


class ValueState(_KeyedState):
    """One value per key."""

    def get(self, default: Any = None) -> Any:
        raw = self._txn.get(self._prefix())
        return default if raw is None else self._serde.deserialize(raw)

    def set(self, value: Any) -> None:
        if value is None:
            self.clear()
        else:
            self._txn.put(self._prefix(), self._serde.serialize(value))

    def clear(self) -> None:
        self._txn.delete(self._prefix())


class ListState(_KeyedState):
    """A list per key, stored as one value (append reads and rewrites it)."""

    def get(self) -> list[Any]:
        raw = self._txn.get(self._prefix())
        return [] if raw is None else self._serde.deserialize(raw)

    def add(self, item: Any) -> None:
        self.update([*self.get(), item])

    def update(self, items: list[Any]) -> None:
        if items:
            self._txn.put(self._prefix(), self._serde.serialize(list(items)))
        else:
            self.clear()

    def clear(self) -> None:
        self._txn.delete(self._prefix())


class MapState(_KeyedState):
    """A map per key; each entry is its own store entry, so large maps stay cheap to update."""

    _tail = b"\x00"

    def __init__(
        self,
        ctx: ProcessorContext,
        txn: StoreTransaction,
        state: str,
        serde: Serde,
        key_serde: Serde,
    ):
        super().__init__(ctx, txn, state, serde)
        self._map_key = key_serde

    def _entry(self, map_key: Any) -> bytes:
        return self._prefix() + self._map_key.serialize(map_key)

    def _range(self) -> tuple[bytes, bytes]:
        start = self._prefix()
        return start, start[:-1] + b"\x01"

    def get(self, map_key: Any, default: Any = None) -> Any:
        raw = self._txn.get(self._entry(map_key))
        return default if raw is None else self._serde.deserialize(raw)

    def put(self, map_key: Any, value: Any) -> None:
        self._txn.put(self._entry(map_key), self._serde.serialize(value))

    def remove(self, map_key: Any) -> None:
        self._txn.delete(self._entry(map_key))

    def __contains__(self, map_key: Any) -> bool:
        return self._txn.get(self._entry(map_key)) is not None

    def items(self) -> Iterator[tuple[Any, Any]]:
        start, end = self._range()
        for raw_key, raw_value in self._txn.items(start, end):
            yield (
                self._map_key.deserialize(raw_key[len(start) :]),
                self._serde.deserialize(raw_value),
            )

    def keys(self) -> Iterator[Any]:
        return (k for k, _ in self.items())

    def clear(self) -> None:
        for raw_key, _ in list(self._txn.items(*self._range())):
            self._txn.delete(raw_key)


_NO_KEY = object()


def _spec_key(spec: str | Serde) -> Any:
    # A serde instance is kept alive by the view it made, so its id() stays unique.
    return spec if isinstance(spec, str) else id(spec)


class ProcessorContext:
    """What a ProcessFunction can do: read the record's metadata, use stores, emit records.

    Store and state views are made once per task and name, then returned from a cache, and the
    current key is serialized at most once per record, however many states the function
    touches: both would otherwise be paid on every record.
    """

    def __init__(self, runtime: Any, key_serde: Serde) -> None:
        self._runtime = runtime  # the compiled node: stores, record context and downstream
        self._key_serde = key_serde
        self.key: Any = None
        self._raw_key_of: Any = _NO_KEY  # the key object _raw_key was made from
        self._raw_key = b""
        self._views: dict[tuple[Any, ...], Any] = {}
        self._timers: Any = None

    # record metadata
    @property
    def timestamp(self) -> float:
        """Event time of the current record, in seconds."""
        return self._runtime.record.timestamp_ms / 1000

    @property
    def topic(self) -> str:
        return self._runtime.record.topic

    @property
    def partition(self) -> int:
        return self._runtime.record.partition

    @property
    def offset(self) -> int:
        return self._runtime.record.offset

    def key_bytes(self) -> bytes:
        """The current key in the step's key serde; computed once per record (and key)."""
        key = self.key
        if key is not self._raw_key_of:
            raw = self._key_serde.serialize(key)
            self._raw_key = b"" if raw is None else raw
            self._raw_key_of = key
        return self._raw_key

    def _set_key(self, key: Any) -> None:
        """Make ``key`` current, so the next key_bytes() serializes it afresh."""
        self.key = key
        self._raw_key_of = _NO_KEY

    @property
    def timers(self) -> Any:
        """Register and delete timers for the current key (see ``ProcessFunction.on_timer``)."""
        if self._timers is None:
            raise AttributeError(
                "ctx.timers needs a ProcessFunction that overrides on_timer(timestamp, ctx)"
            )
        return self._timers

    @timers.setter
    def timers(self, timers: Any) -> None:
        self._timers = timers

    # state
    def store(self, name: str) -> StoreView:
        view = self._views.get(("store", name))
        if view is None:
            spec = self._runtime.spec(name)
            view = StoreView(self._runtime.transaction(name), spec.key_serde, spec.value_serde)
            self._views[("store", name)] = view
        return view

    def value_state(
        self, store: str, name: str = "value", serde: str | Serde = "json"
    ) -> ValueState:
        cache_key = ("value", store, name, _spec_key(serde))
        view = self._views.get(cache_key)
        if view is None:
            txn = self._runtime.transaction(store)
            view = self._views[cache_key] = ValueState(self, txn, name, resolve_serde(serde))
        return view

    def list_state(self, store: str, name: str = "list", serde: str | Serde = "json") -> ListState:
        cache_key = ("list", store, name, _spec_key(serde))
        view = self._views.get(cache_key)
        if view is None:
            txn = self._runtime.transaction(store)
            view = self._views[cache_key] = ListState(self, txn, name, resolve_serde(serde))
        return view

    def map_state(
        self,
        store: str,
        name: str = "map",
        serde: str | Serde = "json",
        key_serde: str | Serde = "str",
    ) -> MapState:
        cache_key = ("map", store, name, _spec_key(serde), _spec_key(key_serde))
        view = self._views.get(cache_key)
        if view is None:
            txn = self._runtime.transaction(store)
            view = MapState(self, txn, name, resolve_serde(serde), resolve_serde(key_serde))
            self._views[cache_key] = view
        return view

    # output
    def emit(self, key: Any, value: Any, timestamp: float | None = None) -> None:
        """Send a record downstream; its event time defaults to the current record's."""
        self._runtime.emit(key, value, timestamp)
