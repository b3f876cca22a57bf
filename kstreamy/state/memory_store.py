"""A non-persistent store for tests and for state that restores quickly from its changelog."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kstreamy.state.errors import StoreClosedError


class InMemoryStore:
    """A dict that iterates in key order.

    Sorting happens in :meth:`items` rather than on every write: stores are written far more
    often than range-scanned, and this backend only serves small or test workloads.
    """

    persistent = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._data: dict[bytes, bytes] | None = {}

    def _live(self) -> dict[bytes, bytes]:
        if self._data is None:
            raise StoreClosedError(self.name)
        return self._data

    def get(self, key: bytes) -> bytes | None:
        return self._live().get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._live()[key] = value

    def delete(self, key: bytes) -> None:
        self._live().pop(key, None)

    def write_batch(self, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        # Materialise first so an iterator that fails halfway leaves the store untouched.
        batch = list(items)
        data = self._live()
        for key, value in batch:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Scan keys as of the call; values written meanwhile may or may not show up."""
        data = self._live()
        keys = sorted(k for k in data if (start is None or k >= start) and (end is None or k < end))
        return self._scan(keys)

    def _scan(self, keys: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        for key in keys:
            value = self._live().get(key)
            if value is not None:
                yield key, value

    def approximate_count(self) -> int:
        return len(self._live())

    def flush(self) -> None:
        """Nothing to persist; present so the runtime can flush every store alike."""
        self._live()

    def close(self) -> None:
        self._data = None

    def __repr__(self) -> str:
        return f"InMemoryStore({self.name!r})"
