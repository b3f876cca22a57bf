import pytest

from kstreamy.partitioner import murmur2, partition_for
from tests_support.murmur2_reference import JAVA_VECTORS


@pytest.mark.parametrize(("data", "expected"), JAVA_VECTORS.items())
def test_murmur2_matches_the_java_client(data, expected):
    assert murmur2(data) == expected


def test_partition_is_the_positive_hash_modulo_the_count():
    # -973932308 & 0x7fffffff = 1173551340
    assert partition_for(b"21", 10) == 1173551340 % 10
    assert partition_for(b"abc", 7) == 479470107 % 7
    assert {partition_for(f"key-{i}".encode(), 4) for i in range(100)} == {0, 1, 2, 3}


def test_a_partition_count_must_be_positive():
    with pytest.raises(ValueError, match="partitions must be > 0"):
        partition_for(b"k", 0)


def test_the_base_key_partitioner_hashes_the_base_key_only():
    from kstreamy.partitioner import base_key_partitioner
    from kstreamy.serde import resolve_serde
    from kstreamy.windows import Windowed

    partition_of = base_key_partitioner(resolve_serde("str"), 7)
    for start in (0, 10_000, 3_600_000):
        assert partition_of(Windowed.from_ms("21", start, start + 10_000)) == partition_for(
            b"21", 7
        )
    # A None base key is written as no bytes by the windowed serdes, and hashed as such.
    assert partition_of(Windowed.from_ms(None, 0, 10)) == partition_for(b"", 7)
    ints = base_key_partitioner(resolve_serde("int"), 5)
    raw = resolve_serde("int").serialize(123456)
    assert ints(Windowed.from_ms(123456, 0, 10)) == partition_for(raw, 5)
    with pytest.raises(ValueError, match="partitions must be > 0"):
        base_key_partitioner(resolve_serde("str"), 0)


def test_the_base_key_partitioner_stays_right_when_its_cache_starts_over(monkeypatch):
    import kstreamy.partitioner as module
    from kstreamy.serde import resolve_serde
    from kstreamy.windows import Windowed

    monkeypatch.setattr(module, "PARTITION_CACHE_SIZE", 4)
    partition_of = module.base_key_partitioner(resolve_serde("str"), 3)
    keys = [f"key-{i}" for i in range(10)] * 3
    assert [partition_of(Windowed.from_ms(k, 0, 10)) for k in keys] == [
        partition_for(k.encode(), 3) for k in keys
    ]
