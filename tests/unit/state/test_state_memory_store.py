from __future__ import annotations

from kstreamy.state import InMemoryStore


def test_not_persistent() -> None:
    assert InMemoryStore("s").persistent is False


def test_writes_during_iteration_do_not_break_the_scan() -> None:
    store = InMemoryStore("s")
    for k in [b"a", b"b", b"c"]:
        store.put(k, b"1")
    seen = []
    for key, _ in store.items():
        seen.append(key)
        store.put(key + b"z", b"2")
        store.delete(b"c")
    assert seen == [b"a", b"b"]
