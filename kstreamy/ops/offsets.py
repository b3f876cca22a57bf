"""Input offsets a reset goes back to: the beginning of a partition, or the first record at or
after a point in time.

Both are checked against the records themselves: ListOffsets answers are used only as a hint
(some brokers answer them inexactly), and a hint that does not hold is replaced by a scan.
"""

from __future__ import annotations

from confluent_kafka import KafkaException, TopicPartition

from kstreamy.errors import KStreamyError
from kstreamy.ops.kafka_io import TIMEOUT_S, PartitionReader


def beginning(reader: PartitionReader, topic: str, partition: int) -> int:
    """The offset of the first record still in the partition (its low watermark)."""
    try:
        low, _ = reader.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=TIMEOUT_S, cached=False
        )
    except KafkaException as exc:
        raise KStreamyError(f"cannot read the beginning of {topic}[{partition}]: {exc}") from exc
    return max(int(low), 0)


def end(reader: PartitionReader, topic: str, partition: int) -> int:
    """The exact end of the partition: read from the high-watermark hint to the end."""
    try:
        _, high = reader.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=TIMEOUT_S, cached=False
        )
    except KafkaException:
        high = 0
    # A hint past the real end reads from the beginning instead (auto.offset.reset earliest).
    return reader.end_offset(topic, partition, max(int(high) - 1, 0))


def offset_for_time(reader: PartitionReader, topic: str, partition: int, time_ms: int) -> int:
    """The first offset whose record timestamp is at or after ``time_ms`` (the end if none)."""
    hint = None
    try:
        found = reader.consumer.offsets_for_times(
            [TopicPartition(topic, partition, time_ms)], timeout=TIMEOUT_S
        )
        if found and found[0].error is None and found[0].offset > 0:
            hint = found[0].offset
    except KafkaException:
        hint = None
    if hint is not None and _hint_holds(reader, topic, partition, hint, time_ms):
        return hint
    for message in reader.read(topic, partition, beginning(reader, topic, partition)):
        if message.timestamp()[1] >= time_ms:
            return message.offset()
    assert reader.end is not None
    return reader.end


def _hint_holds(
    reader: PartitionReader, topic: str, partition: int, hint: int, time_ms: int
) -> bool:
    """The record before ``hint`` is earlier than ``time_ms`` and the one at it is not."""
    seen: list[tuple[int, int]] = []
    for message in reader.read(topic, partition, hint - 1):
        seen.append((message.offset(), message.timestamp()[1]))
        if len(seen) == 2:
            break
    if len(seen) != 2 or seen[0][0] != hint - 1 or seen[1][0] != hint:
        return False
    return seen[0][1] < time_ms <= seen[1][1]
