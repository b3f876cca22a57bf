"""Composite keys for window stores.

Layout: 4-byte big-endian key length, the key, 8-byte big-endian window start with the sign
bit flipped. Byte order then equals (key length, key, start) order, so all windows of one key
are contiguous and sorted by start, negative starts included, and "windows of key K between
T1 and T2" is a single range scan. The length prefix keeps one key from being a prefix of
another (b"a" and b"ab" never interleave).
"""

from __future__ import annotations

import struct

_LEN = struct.Struct(">I")
_START = struct.Struct(">Q")
_BIAS = 1 << 63
_MIN_START = -(1 << 63)
_MAX_START = (1 << 63) - 1


def _prefix(key: bytes) -> bytes:
    if len(key) > 0xFFFFFFFF:
        raise ValueError("key longer than 4 GiB")
    return _LEN.pack(len(key)) + key


def _encode_start(window_start_ms: int) -> bytes:
    if not _MIN_START <= window_start_ms <= _MAX_START:
        raise ValueError(f"window start out of 64-bit range: {window_start_ms}")
    # Adding 2**63 is the sign-bit flip of two's complement, as an unsigned number.
    return _START.pack(window_start_ms + _BIAS)


def window_key(key: bytes, window_start_ms: int) -> bytes:
    """Return the store key of ``key``'s window starting at ``window_start_ms``."""
    return _prefix(key) + _encode_start(window_start_ms)


def split_window_key(composite: bytes) -> tuple[bytes, int]:
    """Invert :func:`window_key`; raise ValueError on bytes it cannot have produced."""
    if len(composite) < _LEN.size + _START.size:
        raise ValueError("window key too short")
    (length,) = _LEN.unpack_from(composite, 0)
    if len(composite) != _LEN.size + length + _START.size:
        raise ValueError("window key length prefix does not match its size")
    key = composite[_LEN.size : _LEN.size + length]
    (raw,) = _START.unpack_from(composite, _LEN.size + length)
    return key, raw - _BIAS


def window_range(key: bytes, start_from_ms: int, start_until_ms: int) -> tuple[bytes, bytes]:
    """Bounds for ``items(start, end)`` over ``key``'s windows with
    ``start_from_ms <= start < start_until_ms``."""
    prefix = _prefix(key)
    lower = prefix + _encode_start(min(max(start_from_ms, _MIN_START), _MAX_START))
    if start_until_ms > _MAX_START:
        return lower, _successor(prefix)
    return lower, prefix + _encode_start(max(start_until_ms, _MIN_START))


def key_range(key: bytes) -> tuple[bytes, bytes]:
    """Bounds for ``items(start, end)`` over every window of ``key``."""
    prefix = _prefix(key)
    return prefix, _successor(prefix)


def _successor(prefix: bytes) -> bytes:
    # The smallest byte string greater than every string starting with ``prefix``. It always
    # exists here because the 4-byte length prefix is never all 0xFF.
    body = bytearray(prefix)
    while body and body[-1] == 0xFF:
        body.pop()
    body[-1] += 1
    return bytes(body)
