"""Window stores on top of a byte-level store transaction.

Every window lives under two keys of the same byte store, so one changelog restores both:

* primary ``[0x01][4-byte key length][key][start]`` holds the value: all windows of a key are
  contiguous and sorted by start, so "windows of key K starting between T1 and T2" is one
  range scan;
* time index ``[0x02][end][4-byte key length][key][start]`` (empty value) sorts every window
  of every key by end, so "windows that ended before T" (to emit at close, or to drop after
  retention) is a range scan from the beginning of the index, whatever the number of keys.

Times are 8-byte big-endian with the sign bit flipped, so byte order is numeric order for
negative times too. Keys under ``[0x00]`` hold small metadata of the owner (for example how
far a windowed aggregation has emitted), written in the same transaction as the windows.

The transaction is anything with ``get``/``put``/``delete``/``items(start, end)`` over bytes,
normally a :class:`~kstreamy.state.transaction.StoreTransaction`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Protocol

__all__ = ["MAX_TIME", "MIN_TIME", "ByteTransaction", "WindowStore"]

MIN_TIME = -(1 << 63)
MAX_TIME = (1 << 63) - 1

_LEN = struct.Struct(">I")
_TIME = struct.Struct(">Q")
_BIAS = 1 << 63
_PRIMARY = b"\x01"
_INDEX = b"\x02"
_INDEX_END = b"\x03"
_META = b"\x00"


class ByteTransaction(Protocol):
    """What the stores need from a transaction: point reads/writes and ordered range scans."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]: ...


def encode_time(ms: int) -> bytes:
    """8 bytes whose byte order is the numeric order of signed 64-bit ``ms``."""
    return _TIME.pack(ms + _BIAS)


def decode_time(data: bytes, offset: int = 0) -> int:
    return _TIME.unpack_from(data, offset)[0] - _BIAS


def _clamp(ms: int) -> int:
    return MIN_TIME if ms < MIN_TIME else MAX_TIME if ms > MAX_TIME else ms


def key_prefix(key: bytes) -> bytes:
    """``[length][key]``: no key's prefix is a prefix of another key's prefix."""
    return _LEN.pack(len(key)) + key


def index_key(end_ms: int, key: bytes, start_ms: int) -> bytes:
    return (
        _INDEX
        + _TIME.pack(end_ms + _BIAS)
        + _LEN.pack(len(key))
        + key
        + _TIME.pack(start_ms + _BIAS)
    )


def split_index_key(raw: bytes) -> tuple[int, bytes, int]:
    """Invert :func:`index_key` into ``(end_ms, key, start_ms)``."""
    end = _TIME.unpack_from(raw, 1)[0] - _BIAS
    (length,) = _LEN.unpack_from(raw, 9)
    key = raw[13 : 13 + length]
    start = _TIME.unpack_from(raw, 13 + length)[0] - _BIAS
    return end, key, start


class TimeIndexedStore:
    """The parts shared by window and session stores: time index, expiry and metadata."""

    def __init__(self, txn: ByteTransaction) -> None:
        self.txn = txn

    # metadata -------------------------------------------------------------------------
    def get_meta(self, name: bytes) -> bytes | None:
        return self.txn.get(_META + name)

    def put_meta(self, name: bytes, value: bytes) -> None:
        self.txn.put(_META + name, value)

    # the time index ---------------------------------------------------------------------
    def _index_range(
        self, end_from_ms: int, end_before_ms: int
    ) -> Iterator[tuple[int, bytes, int]]:
        if end_before_ms <= end_from_ms or end_before_ms <= MIN_TIME:
            return
        lower = _INDEX + encode_time(_clamp(end_from_ms))
        upper = _INDEX_END if end_before_ms > MAX_TIME else _INDEX + encode_time(end_before_ms)
        for raw, _ in self.txn.items(lower, upper):
            yield split_index_key(raw)

    def any_ending_at(self, end_ms: int) -> bool:
        """Whether some window ends at ``end_ms``: an owner that knows the answer is no can
        create windows of that end without looking each one up."""
        for _ in self._index_range(end_ms, end_ms + 1):
            return True
        return False

    def first_end(self, end_from_ms: int = MIN_TIME) -> int | None:
        """The smallest window end ``>= end_from_ms``, or None: tells an owner how long it
        can skip looking for windows to close."""
        for end, _, _ in self._index_range(end_from_ms, MAX_TIME + 1):
            return end
        return None

    def _primary_key(self, key: bytes, start_ms: int, end_ms: int) -> bytes:
        raise NotImplementedError

    def ending_between(
        self, end_from_ms: int, end_before_ms: int
    ) -> list[tuple[bytes, int, int, bytes]]:
        """Windows with ``end_from_ms <= end < end_before_ms`` as ``(key, start, end, value)``,
        ordered by end, then key (shorter keys first), then start.

        A list, not an iterator, so the caller may delete what it gets while going through it.
        """
        get = self.txn.get
        found = []
        for end, key, start in list(self._index_range(end_from_ms, end_before_ms)):
            value = get(self._primary_key(key, start, end))
            if value is not None:
                found.append((key, start, end, value))
        return found

    def expired(self, end_before_ms: int) -> list[tuple[bytes, int, int, bytes]]:
        """Every window with ``end < end_before_ms``, oldest end first."""
        return self.ending_between(MIN_TIME, end_before_ms)

    def drop_before(self, end_before_ms: int) -> int:
        """Delete every window with ``end < end_before_ms`` (retention); return how many."""
        dropped = 0
        delete = self.txn.delete
        for end, key, start in list(self._index_range(MIN_TIME, end_before_ms)):
            delete(self._primary_key(key, start, end))
            delete(index_key(end, key, start))
            dropped += 1
        return dropped


class WindowStore(TimeIndexedStore):
    """Fixed-size windows per key: ``end = start + window_size_ms``.

    As in Kafka Streams, one store holds windows of one size, so the end is derived rather
    than stored with every value. For sliding windows the size is the time difference and
    ``end`` is the inclusive last millisecond; the store does not care which.
    """

    def __init__(self, txn: ByteTransaction, window_size_ms: int) -> None:
        if window_size_ms <= 0:
            raise ValueError(f"window_size_ms must be positive, got {window_size_ms}")
        super().__init__(txn)
        self.window_size_ms = window_size_ms
        self._index_prefixes: dict[bytes, bytes] = {}

    def _primary_key(self, key: bytes, start_ms: int, end_ms: int) -> bytes:
        return _PRIMARY + _LEN.pack(len(key)) + key + _TIME.pack(start_ms + _BIAS)

    def get(self, key: bytes, start_ms: int) -> bytes | None:
        return self.txn.get(_PRIMARY + _LEN.pack(len(key)) + key + _TIME.pack(start_ms + _BIAS))

    # by store key: for owners that keep windows in memory and build each key once ----------
    def window_key(self, key: bytes, start_ms: int) -> bytes:
        """The store key holding the value of ``key``'s window starting at ``start_ms``."""
        return _PRIMARY + _LEN.pack(len(key)) + key + _TIME.pack(start_ms + _BIAS)

    def index_entry(self, window_key: bytes) -> bytes:
        """The time index key (its value is empty) of the window stored under ``window_key``.

        Both keys end in ``[key length][key][start]``, so the index key is a prefix per window
        start (remembered for the few starts open at a time) and the tail of the window key.
        """
        start = window_key[-8:]
        prefix = self._index_prefixes.get(start)
        if prefix is None:
            if len(self._index_prefixes) >= 64:
                self._index_prefixes.clear()
            end = _TIME.unpack(start)[0] + self.window_size_ms
            prefix = self._index_prefixes[start] = _INDEX + _TIME.pack(end)
        return prefix + window_key[1:]

    def get_by_key(self, window_key: bytes) -> bytes | None:
        """:meth:`get` by a key from :meth:`window_key`."""
        return self.txn.get(window_key)

    def write(self, writes: list[tuple[bytes, bytes | None]]) -> None:
        """Write ``(store key, value)`` pairs in order, None deleting the key: values under
        :meth:`window_key` keys, and empty values (or None) under :meth:`index_entry` keys.
        Whoever writes a window's value for the first time writes its index entry too, and
        deletes both together."""
        write_many = getattr(self.txn, "write_many", None)
        if write_many is not None:
            write_many(writes)
            return
        txn = self.txn
        for key, value in writes:
            if value is None:
                txn.delete(key)
            else:
                txn.put(key, value)

    def put(self, key: bytes, start_ms: int, value: bytes, new: bool = True) -> None:
        """Insert or overwrite the window of ``key`` starting at ``start_ms``.

        ``new=False`` says the window is in the store already, so its time index entry is too:
        rewriting it would cost a write and a changelog record for nothing."""
        txn = self.txn
        txn.put(_PRIMARY + _LEN.pack(len(key)) + key + _TIME.pack(start_ms + _BIAS), value)
        if new:
            txn.put(index_key(start_ms + self.window_size_ms, key, start_ms), b"")

    def update(self, key: bytes, start_ms: int, value: bytes) -> None:
        """Overwrite the value of a window that is already stored (its index entry stands)."""
        self.txn.put(_PRIMARY + _LEN.pack(len(key)) + key + _TIME.pack(start_ms + _BIAS), value)

    def delete(self, key: bytes, start_ms: int) -> None:
        txn = self.txn
        txn.delete(_PRIMARY + _LEN.pack(len(key)) + key + _TIME.pack(start_ms + _BIAS))
        txn.delete(index_key(start_ms + self.window_size_ms, key, start_ms))

    def fetch(
        self, key: bytes, time_from_ms: int, time_to_ms: int
    ) -> Iterator[tuple[int, int, bytes]]:
        """``(start, end, value)`` of ``key``'s windows with ``time_from <= start <= time_to``
        (both inclusive, as Kafka Streams' ``WindowStore.fetch``), by increasing start."""
        if time_to_ms < time_from_ms:
            return
        prefix = _PRIMARY + key_prefix(key)
        lower = prefix + encode_time(_clamp(time_from_ms))
        if time_to_ms >= MAX_TIME:
            upper = prefix_successor(prefix)
        else:
            upper = prefix + encode_time(_clamp(time_to_ms + 1))
        size = self.window_size_ms
        offset = len(prefix)
        for raw, value in self.txn.items(lower, upper):
            start = _TIME.unpack_from(raw, offset)[0] - _BIAS
            yield start, start + size, value

    def fetch_all(
        self, time_from_ms: int, time_to_ms: int
    ) -> Iterator[tuple[bytes, int, int, bytes]]:
        """``(key, start, end, value)`` of every key's windows with ``time_from <= start <=
        time_to``, ordered by start, then key (shorter first). One scan of the time index."""
        size = self.window_size_ms
        yield from self.ending_between(time_from_ms + size, time_to_ms + size + 1)


def prefix_successor(prefix: bytes) -> bytes:
    """The smallest byte string above every string starting with ``prefix``."""
    body = bytearray(prefix)
    while body and body[-1] == 0xFF:
        body.pop()
    body[-1] += 1
    return bytes(body)
