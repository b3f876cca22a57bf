"""Entries of a store that belong to its task rather than to a record key, and how rescaling
merges them.

Window and session stores keep, next to the windows, ``[0x00][name]`` entries recording how far
their owner has got: ``swept``, the watermark of a windowed aggregation's last sweep (windows
closing at or below it were emitted and deleted), and ``join-watermark``, the watermark a stream
join last acted on (entries closing at or below it were closed). When partitions are split or
merged, a new task takes keys from one or more old tasks and gets the **minimum** of their
values:

- every window still in the store is one its old task had not closed (closing deletes it), so
  its close time is above its old task's value, hence above the minimum: the new task closes
  and emits it once, when its own watermark passes the close time;
- the maximum would be wrong: a window of a task that was behind, closing between the two
  values, would count as swept already, and be neither emitted nor deleted, ever;
- an old task without the entry has never swept, so the new task gets no entry either.

Exact when each new task takes keys from one old task, as when the count is multiplied
(4 -> 8): the minimum is then that task's own value. When several contribute (4 -> 6) the one
further behind sets the pace for all of them, which errs on the side of emitting: a record that
the task further ahead would have judged late for a window it had already closed is taken as on
time and reopens that window, and windows kept past their close for queries (``retention_ms``)
are emitted again under ``emit_final``. No window is ever lost.

Which old partitions feed a new one follows from the partitioners' form ``hash(key) % count``
(murmur2 and crc32 both): a key in old partition ``a`` and new partition ``b`` has a hash equal
to ``a`` modulo the old count and to ``b`` modulo the new one, which is possible exactly when
``a`` and ``b`` are equal modulo ``gcd(old, new)``. Counting contributors that way, not by the
windows moved, lets a new task that got no window of an old task still learn its progress, so a
late record of such a key is still judged late.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Mapping

from kstreamy.savepoint.errors import SavepointCompatibilityError
from kstreamy.savepoint.reader import Savepoint
from kstreamy.state.meta_names import JOIN_WATERMARK_META, SWEPT_META
from kstreamy.state.window_store import decode_time, encode_time

TASK_ENTRY = b"\x00"
"""The first byte of a task's own entries in window and session stores."""

KINDS_WITH_TASK_ENTRIES = ("window", "session")

_LONG = struct.Struct(">q")
Merge = Callable[[list[bytes]], bytes]


def _min_long(values: list[bytes]) -> bytes:
    return _LONG.pack(min(_LONG.unpack(v)[0] for v in values))


def _min_time(values: list[bytes]) -> bytes:
    return encode_time(min(decode_time(v) for v in values))


MERGES: dict[bytes, Merge] = {
    TASK_ENTRY + SWEPT_META: _min_long,
    TASK_ENTRY + JOIN_WATERMARK_META: _min_time,
}
"""Store key of a task entry -> how the values of the contributing old tasks merge."""


def contributors(partition: int, old_count: int, new_count: int) -> list[int]:
    """The old partitions holding keys that ``partition`` holds under ``new_count``."""
    step = math.gcd(old_count, new_count)
    return list(range(partition % step, old_count, step))


def task_entry_keys(savepoint: Savepoint, store: str, tasks: Iterable[str]) -> set[bytes]:
    """The task entries of ``store`` in ``tasks``: they sort first, so reading stops early."""
    if savepoint.manifest.stores[store].kind not in KINDS_WITH_TASK_ENTRIES:
        return set()
    found = set()
    for tid in tasks:
        for key, _ in savepoint.store_entries(tid, store):
            if not key.startswith(TASK_ENTRY):
                break
            found.add(key)
    return found


def check_task_entries(store: str, keys: Iterable[bytes]) -> None:
    """Refuse task entries nobody said how to merge, before anything is changed."""
    unknown = sorted({k for k in keys if k not in MERGES})
    if unknown:
        names = ", ".join(repr(k[1:].decode(errors="replace")) for k in unknown)
        raise SavepointCompatibilityError(
            f"store {store!r} cannot be moved to another partition count: it holds task "
            f"entries {names} that kstreamy does not know how to merge"
        )


def merge_task_entries(
    store: str,
    by_old_partition: Mapping[int, Mapping[bytes, bytes]],
    partition: int,
    old_count: int,
    new_count: int,
) -> dict[bytes, bytes]:
    """The task entries of new ``partition``: per entry, the merge of the old tasks' values,
    or nothing when one of them has none (it never made progress)."""
    sources = [by_old_partition.get(p, {}) for p in contributors(partition, old_count, new_count)]
    names = set().union(*sources)
    check_task_entries(store, names)
    merged = {}
    for name in sorted(names):
        values = [source.get(name) for source in sources]
        present = [v for v in values if v is not None]
        if len(present) == len(values):
            merged[name] = MERGES[name](present)
    return merged
