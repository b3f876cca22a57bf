"""Partitioners must agree with the producers of the input topics, bit for bit."""

from __future__ import annotations

import zlib

import pytest

from kstreamy.errors import KStreamyError
from kstreamy.partitioner import murmur2
from kstreamy.savepoint.keys import record_key_of, register_store_kind
from kstreamy.savepoint.partitioner import crc32_partition, murmur2_partition, partitioner


def test_murmur2_matches_kafkas_java_test_vectors():
    # From Kafka's UtilsTest.testMurmur2 (signed 32-bit results).
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_partitions_are_in_range_and_spread():
    keys = [f"key-{i}".encode() for i in range(1000)]
    for fn in (murmur2_partition, crc32_partition):
        parts = [fn(k, 8) for k in keys]
        assert set(parts) == set(range(8))


def test_crc32_is_librdkafkas_consistent_partitioner():
    # librdkafka's consistent partitioner is zlib's CRC-32 modulo the partition count.
    assert crc32_partition(b"hello", 5) == zlib.crc32(b"hello") % 5


def test_an_unknown_partitioner_is_a_clear_error():
    with pytest.raises(KStreamyError, match="unknown partitioner 'fnv'; known: murmur2, crc32"):
        partitioner("fnv")


def test_record_keys_of_store_keys_per_kind():
    assert record_key_of("key_value")(b"abc") == b"abc"
    # Window, session and timer stores: see test_rescale_stores.
    for kind in ("window", "session", "timers"):
        assert record_key_of(kind) is not None
    assert record_key_of("unheard-of") is None
    register_store_kind("test-kind", lambda k: k[1:])
    assert record_key_of("test-kind")(b"xkey") == b"key"


@pytest.mark.parametrize(
    "kind, layout, why",
    [
        ("window", "opaque", "its keys are chosen by user code"),
        ("unheard-of", "record_key", "no record-key function is registered for unheard-of"),
    ],
)
def test_stores_that_cannot_be_moved_are_refused_by_name(kind, layout, why):
    from kstreamy.ops.rescale import record_key_function
    from kstreamy.savepoint.errors import SavepointCompatibilityError
    from kstreamy.savepoint.format import StoreInfo

    info = StoreInfo(
        kind=kind,
        format="rocksdb-sst",
        key_serde={"name": "str"},
        value_serde={"name": "int"},
        changelog_topic="app-per-minute-changelog",
        key_layout=layout,
        subtopology=0,
    )
    with pytest.raises(SavepointCompatibilityError, match="store 'per-minute' cannot be moved"):
        record_key_function("per-minute", info)
    with pytest.raises(SavepointCompatibilityError, match=why):
        record_key_function("per-minute", info)
