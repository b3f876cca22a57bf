"""Moving state to another partition count: each entry goes to the task its key maps to.

Partitions are kstreamy's key groups. When the input of a sub-topology gets more (or, for a
repartition topic, fewer) partitions, a reset from a savepoint regroups every store entry by
``partitioner(record key) % new count``, using the partitioner of the topic's producers, so each
key's state (windows and timers included) lands on the task that will now see its records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping

from kstreamy.ops.kafka_io import PartitionReader
from kstreamy.ops.scratch import ScratchStore
from kstreamy.savepoint.errors import SavepointCompatibilityError
from kstreamy.savepoint.format import StoreInfo
from kstreamy.savepoint.keys import RecordKeyOf, record_key_of
from kstreamy.savepoint.reader import Savepoint
from kstreamy.savepoint.task_entries import merge_task_entries

_PARTITION = struct.Struct(">I")
BATCH = 10_000


def record_key_function(store: str, info: StoreInfo) -> RecordKeyOf:
    """How to find the record key in ``store``'s keys; an error naming the store if unknown."""
    fn = record_key_of(info.kind)
    if info.key_layout != "record_key" or fn is None:
        why = (
            "its keys are chosen by user code (a Processor API store)"
            if info.key_layout != "record_key"
            else f"no record-key function is registered for {info.kind} stores"
        )
        raise SavepointCompatibilityError(
            f"store {store!r} cannot be moved to another partition count: {why}"
        )
    return fn


def regroup(
    savepoint: Savepoint,
    store: str,
    old_tasks: Mapping[int, str],
    old_partitions: int,
    partitions: int,
    partition_of: Callable[[bytes, int], int],
    progress: Callable[[int], None] = lambda n: None,
) -> ScratchStore:
    """Every entry of ``store`` in ``old_tasks`` (old partition -> savepoint task), keyed by
    (new partition, store key). Entries of a record key go where the key maps to; a task's own
    entries (sweep progress) are merged per new task (see :mod:`kstreamy.savepoint.task_entries`).
    """
    info = savepoint.manifest.stores[store]
    key_of = record_key_function(store, info)
    scratch = ScratchStore()
    own: dict[int, dict[bytes, bytes]] = {}
    try:
        for old_partition, tid in sorted(old_tasks.items()):
            batch: list[tuple[bytes, bytes | None]] = []
            for key, value in savepoint.store_entries(tid, store):
                record_key = key_of(key)
                if record_key is None:
                    own.setdefault(old_partition, {})[key] = value
                    continue
                target = partition_of(record_key, partitions)
                batch.append((_PARTITION.pack(target) + key, value))
                if len(batch) >= BATCH:
                    scratch.write(batch)
                    progress(len(batch))
                    batch = []
            scratch.write(batch)
            progress(len(batch))
        for partition in range(partitions):
            merged = merge_task_entries(store, own, partition, old_partitions, partitions)
            scratch.write((_PARTITION.pack(partition) + k, v) for k, v in merged.items())
    except BaseException:
        scratch.close()
        raise
    return scratch


def entries_of(scratch: ScratchStore, partition: int) -> Iterator[tuple[bytes, bytes]]:
    """The entries :func:`regroup` placed on ``partition``, in key order."""
    start = _PARTITION.pack(partition)
    end = _PARTITION.pack(partition + 1) if partition < 0xFFFFFFFF else None
    for key, value in scratch.items(start, end):
        yield key[_PARTITION.size :], value


def misrouted_records(
    reader: PartitionReader,
    topic: str,
    old_offsets: dict[int, int | None],
    partitions: int,
    partition_of: Callable[[bytes, int], int],
) -> dict[int, int]:
    """Records after the savepoint in the old partitions whose key belongs elsewhere now.

    They were written under the old partition count, so the task reading them would not hold
    their key's state any more; a rescaling reset refuses to go on while there are any.
    """
    found: dict[int, int] = {}
    for partition, start in sorted(old_offsets.items()):
        for message in reader.read(topic, partition, start):
            key = message.key()
            if key and partition_of(key, partitions) != partition:
                found[partition] = found.get(partition, 0) + 1
    return found
