"""Kafka's murmur2 written independently of :mod:`kstreamy.partitioner`, to check it against.

A line-by-line transcription of the Java client's ``Utils.murmur2`` with Java's 32-bit int
overflow, where kstreamy's version works on unsigned words: two derivations that must agree.
"""

from __future__ import annotations


def reference_murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``, transcribed line by line with Java's int overflow."""

    def i32(x: int) -> int:
        x &= 0xFFFFFFFF
        return x - 0x100000000 if x >= 0x80000000 else x

    def ushr(x: int, n: int) -> int:  # Java's >>>
        return (x & 0xFFFFFFFF) >> n

    length = len(data)
    m, r = 0x5BD1E995, 24
    h = i32(0x9747B28C ^ length)
    for i in range(length // 4):
        i4 = i * 4
        k = (
            (data[i4] & 0xFF)
            + ((data[i4 + 1] & 0xFF) << 8)
            + ((data[i4 + 2] & 0xFF) << 16)
            + ((data[i4 + 3] & 0xFF) << 24)
        )
        k = i32(k * m)
        k = i32(k ^ ushr(k, r))
        k = i32(k * m)
        h = i32(h * m)
        h = i32(h ^ k)
    rest, base = length % 4, (length // 4) * 4
    if rest == 3:
        h = i32(h ^ ((data[base + 2] & 0xFF) << 16))
    if rest >= 2:
        h = i32(h ^ ((data[base + 1] & 0xFF) << 8))
    if rest >= 1:
        h = i32(h ^ (data[base] & 0xFF))
        h = i32(h * m)
    h = i32(h ^ ushr(h, 13))
    h = i32(h * m)
    return i32(h ^ ushr(h, 15))


def reference_partition(base_key: bytes, partitions: int) -> int:
    """Kafka Streams' ``WindowedStreamPartitioner``, given the serialized base key."""
    return (reference_murmur2(base_key) & 0x7FFFFFFF) % partitions


JAVA_VECTORS = {  # UtilsTest.testMurmur2 in Kafka's Java client
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
