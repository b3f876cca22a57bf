"""RocksDB-specific behaviour: durability, reopening, corruption and lock detection."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kstreamy.state import (
    RocksDBStore,
    StoreClosedError,
    StoreCorruptedError,
    StoreLockedError,
    StoreResources,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def resources() -> StoreResources:
    return StoreResources(block_cache_bytes=4 << 20, write_buffer_bytes=4 << 20)


def _filled(path: Path, resources: StoreResources, n: int = 2000) -> None:
    store = RocksDBStore("s", path, resources)
    store.write_batch([(b"key-%05d" % i, b"value-%05d" % i * 10) for i in range(n)])
    store.flush()
    store.close()


def _run(script: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_persistent_flag(tmp_path: Path, resources: StoreResources) -> None:
    store = RocksDBStore("s", tmp_path / "s", resources)
    assert store.persistent is True
    store.close()


def test_creates_missing_parent_directories(tmp_path: Path, resources: StoreResources) -> None:
    path = tmp_path / "app" / "0_3" / "counts"
    store = RocksDBStore("counts", path, resources)
    store.put(b"k", b"v")
    store.close()
    assert (path / "CURRENT").exists()


def test_reopen_after_close_keeps_data(tmp_path: Path, resources: StoreResources) -> None:
    path = tmp_path / "s"
    store = RocksDBStore("s", path, resources)
    store.write_batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    store.delete(b"b")
    store.put(b"d", b"4")
    store.close()

    reopened = RocksDBStore("s", path, resources)
    assert list(reopened.items()) == [(b"a", b"1"), (b"c", b"3"), (b"d", b"4")]
    reopened.close()


def test_reopen_with_fresh_resources(tmp_path: Path, resources: StoreResources) -> None:
    _filled(tmp_path / "s", resources, n=10)
    other = StoreResources(1 << 20, 1 << 20)
    store = RocksDBStore("s", tmp_path / "s", other)
    assert store.get(b"key-00003") == b"value-00003" * 10
    store.close()


def test_items_is_a_snapshot(tmp_path: Path, resources: StoreResources) -> None:
    store = RocksDBStore("s", tmp_path / "s", resources)
    store.write_batch([(b"a", b"1"), (b"b", b"2")])
    scan = store.items()
    store.put(b"c", b"3")
    store.delete(b"a")
    assert list(scan) == [(b"a", b"1"), (b"b", b"2")]
    store.close()


def test_close_releases_unfinished_scans(tmp_path: Path, resources: StoreResources) -> None:
    path = tmp_path / "s"
    store = RocksDBStore("s", path, resources)
    store.write_batch([(b"a", b"1"), (b"b", b"2")])
    scan = store.items()
    assert next(scan) == (b"a", b"1")
    store.close()
    with pytest.raises(StoreClosedError):
        next(scan)
    # The open iterator would otherwise keep the LOCK held.
    reopened = RocksDBStore("s", path, resources)
    assert reopened.get(b"b") == b"2"
    reopened.close()


def test_exhausted_scan_stays_exhausted_after_close(
    tmp_path: Path, resources: StoreResources
) -> None:
    store = RocksDBStore("s", tmp_path / "s", resources)
    store.put(b"a", b"1")
    scan = store.items()
    assert list(scan) == [(b"a", b"1")]
    store.close()
    assert list(scan) == []


def test_second_handle_in_process_is_locked_not_corrupted(
    tmp_path: Path, resources: StoreResources
) -> None:
    store = RocksDBStore("s", tmp_path / "s", resources)
    with pytest.raises(StoreLockedError) as info:
        RocksDBStore("s", tmp_path / "s", resources)
    assert not isinstance(info.value, StoreCorruptedError)
    store.close()


def test_store_held_by_another_process_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "s"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from kstreamy.state import RocksDBStore, StoreResources
                s = RocksDBStore("s", {str(path)!r}, StoreResources(1 << 20, 1 << 20))
                print("ready", flush=True)
                sys.stdin.readline()
                s.close()
                """
            ),
        ],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError):
            RocksDBStore("s", path, StoreResources(1 << 20, 1 << 20))
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    store = RocksDBStore("s", path, StoreResources(1 << 20, 1 << 20))
    store.close()


def test_flush_makes_writes_survive_a_crash(tmp_path: Path) -> None:
    # The WAL is off: a write survives a hard crash only if flush() ran after it.
    path = tmp_path / "s"
    result = _run(
        f"""
        import os
        from kstreamy.state import RocksDBStore, StoreResources
        s = RocksDBStore("s", {str(path)!r}, StoreResources(1 << 20, 1 << 20))
        s.write_batch([(b"flushed", b"1")])
        s.flush()
        s.write_batch([(b"unflushed", b"2")])
        os._exit(0)
        """
    )
    assert result.returncode == 0, result.stderr
    store = RocksDBStore("s", path, StoreResources(1 << 20, 1 << 20))
    assert store.get(b"flushed") == b"1"
    assert store.get(b"unflushed") is None
    store.close()


def test_close_makes_writes_durable(tmp_path: Path) -> None:
    path = tmp_path / "s"
    result = _run(
        f"""
        import os
        from kstreamy.state import RocksDBStore, StoreResources
        s = RocksDBStore("s", {str(path)!r}, StoreResources(1 << 20, 1 << 20))
        s.put(b"k", b"v")
        s.close()
        os._exit(0)
        """
    )
    assert result.returncode == 0, result.stderr
    store = RocksDBStore("s", path, StoreResources(1 << 20, 1 << 20))
    assert store.get(b"k") == b"v"
    store.close()


def _garbage_current(path: Path) -> None:
    (path / "CURRENT").write_bytes(b"not-a-manifest-name\n")


def _garbage_manifest(path: Path) -> None:
    for manifest in path.glob("MANIFEST-*"):
        manifest.write_bytes(b"\x00garbage" * 16)


def _truncate_ssts(path: Path) -> None:
    ssts = list(path.glob("*.sst"))
    assert ssts, "flush should have produced SST files"
    for sst in ssts:
        with open(sst, "r+b") as fh:
            fh.truncate(sst.stat().st_size // 2)


def _missing_sst(path: Path) -> None:
    for sst in path.glob("*.sst"):
        sst.unlink()


def _missing_manifest(path: Path) -> None:
    for manifest in path.glob("MANIFEST-*"):
        manifest.unlink()


@pytest.mark.parametrize(
    "corrupt",
    [_garbage_current, _garbage_manifest, _truncate_ssts, _missing_sst, _missing_manifest],
)
def test_corrupt_store_detected_on_open(tmp_path: Path, resources: StoreResources, corrupt) -> None:
    path = tmp_path / "s"
    _filled(path, resources)
    corrupt(path)
    with pytest.raises(StoreCorruptedError) as info:
        RocksDBStore("s", path, resources)
    assert info.value.path == path
    assert info.value.cause is not None


def test_flipped_bytes_in_sst_detected(tmp_path: Path, resources: StoreResources) -> None:
    path = tmp_path / "s"
    _filled(path, resources)
    for sst in path.glob("*.sst"):
        with open(sst, "r+b") as fh:
            fh.seek(64)
            fh.write(b"\xa5" * 256)
    # Depending on which blocks RocksDB reads at open, the damage shows at open or on read.
    with pytest.raises(StoreCorruptedError):
        store = RocksDBStore("s", path, resources)
        try:
            list(store.items())
            for i in range(2000):
                store.get(b"key-%05d" % i)
        finally:
            store.close()


def test_path_that_is_a_file_is_unopenable(tmp_path: Path, resources: StoreResources) -> None:
    path = tmp_path / "s"
    path.write_bytes(b"not a directory")
    with pytest.raises(StoreCorruptedError):
        RocksDBStore("s", path, resources)
    RocksDBStore.destroy(path)
    RocksDBStore("s", path, resources).close()


def test_destroy_then_rebuild_after_corruption(tmp_path: Path, resources: StoreResources) -> None:
    path = tmp_path / "s"
    _filled(path, resources)
    _garbage_manifest(path)
    with pytest.raises(StoreCorruptedError):
        RocksDBStore("s", path, resources)
    RocksDBStore.destroy(path)
    assert not path.exists()
    store = RocksDBStore("s", path, resources)
    assert list(store.items()) == []
    store.put(b"k", b"v")
    store.close()


def test_destroy_missing_path_is_noop(tmp_path: Path) -> None:
    RocksDBStore.destroy(tmp_path / "nothing")
