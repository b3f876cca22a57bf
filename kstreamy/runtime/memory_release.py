"""Gives the memory of closed tasks back to the operating system.

glibc's malloc keeps freed memory in its arenas (one per allocating thread, and librdkafka and
RocksDB run many), so an instance that held more tasks for a moment during a rebalance would
keep that high-water mark as resident memory for as long as it runs, which looks like a leak
to anyone watching RSS. ``malloc_trim(0)`` hands the free pages of every arena back. It runs
after tasks are closed, which happens at rebalances only, and takes milliseconds; where the C
library has no ``malloc_trim`` (not glibc) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Any


def _malloc_trim() -> Callable[[int], Any] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], Any] = libc.malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return freed heap pages to the operating system (glibc); a no-op elsewhere."""
    if _TRIM is not None:
        _TRIM(0)
