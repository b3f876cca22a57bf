"""Rescaling window, session and timer stores: every entry goes to the task of its record key,
and the tasks' own progress entries merge to the minimum of the tasks that feed a new one."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from kstreamy import App
from kstreamy.ops.rescale import entries_of, regroup
from kstreamy.runtime.timers import TimerService
from kstreamy.savepoint.errors import SavepointCompatibilityError
from kstreamy.savepoint.keys import (
    UnknownStoreEntry,
    record_key_of,
    timer_record_key,
    window_record_key,
)
from kstreamy.savepoint.partitioner import murmur2_partition
from kstreamy.savepoint.reader import Savepoint
from kstreamy.savepoint.task_entries import (
    check_task_entries,
    contributors,
    merge_task_entries,
)
from kstreamy.state.session_store import SessionStore
from kstreamy.state.window_store import WindowStore, encode_time
from kstreamy.windows import Session, Tumbling
from tests_support.savepoints import write_store_savepoint

_LONG = struct.Struct(">q")
SWEPT = b"\x00swept"
KEYS = [f"key-{i:03d}".encode() for i in range(40)] + [b"", b"\x00", b"\x01\x02"]


class DictTxn:
    """The byte transaction the stores need, over a dict."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def items(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(self.data):
            if (start is None or key >= start) and (end is None or key < end):
                yield key, self.data[key]


def _window_entries(keys: list[bytes]) -> DictTxn:
    txn = DictTxn()
    store = WindowStore(txn, 10_000)
    for i, key in enumerate(keys):
        for start in (-10_000, 0, 10_000 * (i + 1)):
            store.put(key, start, b"v" + key)
    store.put_meta(b"swept", _LONG.pack(-5))
    return txn


def test_every_window_and_index_entry_gives_its_record_key():
    txn = _window_entries(KEYS)
    found = {window_record_key(k) for k in txn.data}
    assert found == set(KEYS) | {None}
    assert window_record_key(SWEPT) is None
    # Primary and index entries of one key: 3 windows, so 6 entries per key.
    for key in KEYS:
        assert sum(window_record_key(k) == key for k in txn.data) == 6
    assert record_key_of("window") is window_record_key


def test_every_session_entry_gives_its_record_key():
    txn = DictTxn()
    store = SessionStore(txn)
    for i, key in enumerate(KEYS):
        store.put(key, 1000 * i, 1000 * i + 500, b"s")
        store.put(key, -3000, -2000, b"s")
    store.put_meta(b"swept", _LONG.pack(0))
    assert {window_record_key(k) for k in txn.data} == set(KEYS) | {None}
    assert record_key_of("session") is window_record_key


def test_every_timer_gives_its_record_key_in_any_namespace():
    txn = DictTxn()
    for namespace in (b"", b"step", b"\xff" * 9):
        timers = TimerService(txn, namespace)
        for i, key in enumerate(KEYS):
            timers.register_event_time(key, 1000 * i - 7)
            timers.register_processing_time(key, -(1 << 63))
    assert len(txn.data) == 3 * 2 * len(KEYS)
    assert {timer_record_key(k) for k in txn.data} == set(KEYS)
    assert record_key_of("timers") is timer_record_key


@pytest.mark.parametrize(
    "extract, key",
    [
        (window_record_key, b""),
        (window_record_key, b"\x07abc"),
        (window_record_key, b"\x01\x00\x00\x00\x09abc"),
        (window_record_key, b"\x02" + encode_time(0) + b"\x00\x00"),
        (timer_record_key, b"\x00\x00"),
        (timer_record_key, b"\x00\x00\x00\x00X" + encode_time(0) + b"k"),
        (timer_record_key, b"\x00\x00\x00\x00E\x00"),
    ],
)
def test_keys_that_fit_no_layout_stop_the_rescale(extract, key):
    with pytest.raises(UnknownStoreEntry):
        extract(key)


def test_contributors_follow_the_modulo_form_of_the_partitioners():
    assert [contributors(p, 4, 8) for p in range(8)] == [[p % 4] for p in range(8)]
    assert [contributors(p, 8, 4) for p in range(4)] == [[p, p + 4] for p in range(4)]
    assert contributors(1, 4, 6) == [1, 3] and contributors(2, 4, 6) == [0, 2]
    assert contributors(0, 3, 5) == [0, 1, 2]
    keys = [f"k{i}".encode() for i in range(3000)]
    for old, new in ((4, 8), (4, 6), (6, 4), (3, 5), (2, 12)):
        for key in keys:
            source = murmur2_partition(key, old)
            assert source in contributors(murmur2_partition(key, new), old, new)


def _long(value: int) -> bytes:
    return _LONG.pack(value)


def test_progress_merges_to_the_minimum_and_missing_progress_wins():
    by_old = {0: {SWEPT: _long(100)}, 1: {SWEPT: _long(-50)}, 2: {SWEPT: _long(70)}}
    # 4 -> 8: every new task has one source, its own value.
    assert merge_task_entries("w", by_old, 4, 4, 8) == {SWEPT: _long(100)}
    assert merge_task_entries("w", by_old, 5, 4, 8) == {SWEPT: _long(-50)}
    # 3 -> 1: the task furthest behind sets the pace.
    assert merge_task_entries("w", by_old, 0, 3, 1) == {SWEPT: _long(-50)}
    # Old partition 3 never swept: a new task it feeds has no progress either.
    assert merge_task_entries("w", by_old, 3, 4, 8) == {}
    assert merge_task_entries("w", by_old, 1, 4, 2) == {}
    join = b"\x00join-watermark"
    merged = merge_task_entries(
        "j", {0: {join: encode_time(-3)}, 1: {join: encode_time(9)}}, 0, 2, 1
    )
    assert merged == {join: encode_time(-3)}


def test_unknown_task_entries_are_refused_by_name():
    with pytest.raises(SavepointCompatibilityError, match=r"store 'w' .* 'mystery'"):
        check_task_entries("w", [SWEPT, b"\x00mystery"])
    with pytest.raises(SavepointCompatibilityError, match="'mystery'"):
        merge_task_entries("w", {0: {b"\x00mystery": b"1"}}, 0, 1, 2)


def windowed_app() -> App:
    app = App("rescale-app")
    grouped = app.stream("in", key_serde="str", value_serde="json").group_by_key()
    grouped.window(Tumbling(10.0)).count(store="per-10s").emit_final().to("out")
    grouped.window(Session(5.0)).count(store="sessions").to("out-sessions")
    return app


def _split(txn: DictTxn, partitions: int, swept: dict[int, int]):
    """Entries of one store spread over ``partitions`` by record key, progress per task."""
    by_partition: dict[int, dict[bytes, bytes]] = {}
    for key, value in txn.data.items():
        record_key = window_record_key(key)
        if record_key is not None:
            part = murmur2_partition(record_key, partitions)
            by_partition.setdefault(part, {})[key] = value
    for part, mark in swept.items():
        by_partition.setdefault(part, {})[SWEPT] = _long(mark)
    return by_partition


@pytest.mark.parametrize("new", [8, 6, 2])
def test_regroup_moves_windows_by_key_and_merges_progress(tmp_path, new):
    keys = [f"key-{i:03d}".encode() for i in range(30)]
    windows = _window_entries(keys)
    sessions = DictTxn()
    for i, key in enumerate(keys):
        SessionStore(sessions).put(key, 100 * i, 100 * i + 40, b"s")
    swept = {0: 5000, 1: 1000, 2: 3000}  # task 3 never swept
    path = write_store_savepoint(
        tmp_path / "sp",
        windowed_app(),
        {"per-10s": _split(windows, 4, swept), "sessions": _split(sessions, 4, {})},
        partitions=4,
    )
    savepoint = Savepoint.open(path)
    old_tasks = {p: f"0_{p}" for p in range(4)}
    for store, source in (("per-10s", windows), ("sessions", sessions)):
        moved: dict[bytes, bytes] = {}
        with regroup(savepoint, store, old_tasks, 4, new, murmur2_partition) as scratch:
            for partition in range(new):
                own = {}
                for key, value in entries_of(scratch, partition):
                    record_key = window_record_key(key)
                    if record_key is None:
                        own[key] = value
                        continue
                    assert murmur2_partition(record_key, new) == partition
                    assert key not in moved
                    moved[key] = value
                marks = [swept.get(p) for p in contributors(partition, 4, new)]
                want = {} if None in marks or store == "sessions" else {SWEPT: _long(min(marks))}
                assert own == want, (store, partition)
        assert moved == {k: v for k, v in source.data.items() if not k.startswith(b"\x00")}


def test_a_timer_store_is_keyed_by_record_keys_while_the_steps_own_store_is_not():
    from kstreamy import ProcessFunction
    from kstreamy.savepoint.topology_info import describe_topology
    from kstreamy.topic_plan import plan_topics

    class Remind(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.timers.register_event_time(ctx.timestamp + 10)

        def on_timer(self, timestamp, ctx):
            ctx.emit(ctx.key, timestamp)

    app = App("timers-app")
    app.stream("in", key_serde="str", value_serde="json").process(
        Remind(), stores=["notes"], name="remind"
    ).to("out")
    _, _, stores = describe_topology(app.topology, plan_topics(app.topology, {"in": 2}))
    assert stores["remind-timers"].kind == "timers"
    assert stores["remind-timers"].key_layout == "record_key"
    assert stores["notes"].key_layout == "opaque"
