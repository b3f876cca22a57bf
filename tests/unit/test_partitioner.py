import pytest

from kstreamy.partitioner import murmur2, partition_for

# Kafka's own vectors: UtilsTest.testMurmur2 in the Java client.
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


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
