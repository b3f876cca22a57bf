"""The timer service: ordering, de-duplication, deletion, firing rules, persistence."""

from __future__ import annotations

import random

from kstreamy.runtime.timers import TimerService
from kstreamy.state import InMemoryStore, StoreTransaction


def make() -> tuple[StoreTransaction, TimerService]:
    txn = StoreTransaction(InMemoryStore("timers"), "app-timers-changelog", 0)
    return txn, TimerService(txn)


def test_event_timers_fire_in_time_order_once_the_watermark_is_above() -> None:
    _, timers = make()
    timers.register_event_time(b"b", 200)
    timers.register_event_time(b"a", 100)
    timers.register_event_time(b"a", -5)
    timers.register_event_time(b"c", 100)
    assert list(timers.due_event_time(100)) == [(-5, b"a")]
    assert list(timers.due_event_time(101)) == [(100, b"a"), (100, b"c")]
    assert list(timers.due_event_time(101)) == []
    assert timers.next_event_time() == 200
    assert list(timers.due_event_time(10_000)) == [(200, b"b")]
    assert timers.next_event_time() is None


def test_processing_timers_fire_when_the_clock_reaches_them() -> None:
    _, timers = make()
    timers.register_processing_time(b"k", 1_000)
    timers.register_event_time(b"k", 1_000)
    assert list(timers.due_processing_time(999)) == []
    assert timers.next_processing_time() == 1_000
    assert list(timers.due_processing_time(1_000)) == [(1_000, b"k")]
    # Separate kinds: the event-time timer is still there.
    assert timers.has_event_time(b"k", 1_000)
    assert not timers.has_processing_time(b"k", 1_000)


def test_at_most_one_timer_per_key_and_time() -> None:
    _, timers = make()
    for _ in range(3):
        timers.register_event_time(b"k", 5)
    timers.register_event_time(b"k", 6)
    assert list(timers.due_event_time(100)) == [(5, b"k"), (6, b"k")]


def test_delete() -> None:
    _, timers = make()
    timers.register_event_time(b"k", 5)
    timers.register_processing_time(b"k", 5)
    timers.delete_event_time(b"k", 5)
    timers.delete_event_time(b"absent", 1)
    assert list(timers.due_event_time(100)) == []
    timers.delete_processing_time(b"k", 5)
    assert list(timers.due_processing_time(100)) == []


def test_keys_with_odd_bytes_and_namespaces_do_not_mix() -> None:
    txn, first = make()
    second = TimerService(txn, namespace=b"other")
    prefixed = TimerService(txn, namespace=b"o")
    first.register_event_time(b"\xff\x00", 1)
    second.register_event_time(b"", 1)
    prefixed.register_event_time(b"ther", 1)
    assert list(first.due_event_time(2)) == [(1, b"\xff\x00")]
    assert list(second.due_event_time(2)) == [(1, b"")]
    assert list(prefixed.due_event_time(2)) == [(1, b"ther")]


def test_a_callback_may_register_timers_while_firing() -> None:
    _, timers = make()
    timers.register_event_time(b"a", 1)
    fired = []
    for ts, key in timers.due_event_time(50):
        fired.append((ts, key))
        if key == b"a":
            timers.register_event_time(b"a", 60)  # not due yet
            timers.register_event_time(b"b", 10)  # due: fires in this call
    assert fired == [(1, b"a"), (10, b"b")]
    assert timers.next_event_time() == 60


def test_timers_are_state_they_restore_from_the_changelog() -> None:
    txn, timers = make()
    timers.register_event_time(b"k", 7)
    txn.apply()
    timers.register_processing_time(b"p", 8)
    restored = InMemoryStore("restored")
    restored.write_batch([*txn.store.items(), *txn.pending_changelog()])
    again = TimerService(StoreTransaction(restored, None, 0))
    assert list(again.due_event_time(8)) == [(7, b"k")]
    assert list(again.due_processing_time(8)) == [(8, b"p")]


def test_discard_forgets_bounds() -> None:
    txn, timers = make()
    timers.register_event_time(b"k", 7)
    txn.apply()
    fired = list(timers.due_event_time(100))
    assert fired == [(7, b"k")]
    txn.discard()  # the transaction that fired the timer aborted: it is due again
    timers.discard()
    assert list(timers.due_event_time(100)) == [(7, b"k")]


def test_random_schedule_matches_a_model() -> None:
    rng = random.Random(3)
    txn, timers = make()
    model: set[tuple[int, bytes]] = set()
    watermark = -100
    for step in range(3000):
        roll = rng.random()
        key = rng.choice([b"a", b"b", b"c", b""])
        ts = watermark + rng.randrange(-20, 200)
        if roll < 0.5:
            timers.register_event_time(key, ts)
            model.add((ts, key))
        elif roll < 0.6:
            timers.delete_event_time(key, ts)
            model.discard((ts, key))
        elif roll < 0.65:
            txn.apply()
        else:
            watermark += rng.randrange(0, 30)
            expected = sorted(t for t in model if t[0] < watermark)
            assert list(timers.due_event_time(watermark)) == expected, step
            model -= set(expected)
    assert timers.next_event_time() == (min(model)[0] if model else None)
