"""Consumer lag per input partition, from the consumer's cached high watermarks."""

from __future__ import annotations

from types import SimpleNamespace

from confluent_kafka import KafkaError, KafkaException

from kstreamy.runtime.consumer_lag import LagSampler, PartitionLag, partition_lag
from tests_support.local_tasks import Record, counting_app, task_manager


class _Consumer:
    def __init__(self, highs: dict[tuple[str, int], int]) -> None:
        self.highs = highs
        self.calls = 0

    def get_watermark_offsets(self, tp, cached=False):
        assert cached, "lag must not cost a request to the broker"
        self.calls += 1
        high = self.highs.get((tp.topic, tp.partition))
        if high is None:
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))
        return (0, high)


def test_partition_lag_is_the_distance_to_the_end():
    assert partition_lag(120, 100) == 20
    assert partition_lag(100, 100) == 0
    assert partition_lag(90, 100) == 0  # consumed past the end the last fetch reported
    assert partition_lag(-1001, 100) is None  # no fetch response yet: unknown, not zero


def test_sampler_reads_each_active_tasks_positions_at_most_once_per_interval(tmp_path):
    app = counting_app(tmp_path)
    tasks = task_manager(app, partitions=3, local=[0, 1, 2])
    consumer = _Consumer({("words", 0): 50, ("words", 1): 7})
    clients = SimpleNamespace(consumer=consumer, secondary=None)
    now = [100.0]
    sampler = LagSampler(tasks, lambda: clients, interval_s=5.0, clock=lambda: now[0])
    try:
        for partition, offset in ((0, 9), (1, 6), (2, 3)):
            tasks.tasks[f"0_{partition}"].process(
                Record("words", partition, offset, b"w", b"w"), "words"
            )
        tasks.paused["0_1"] = None  # restoring: its position is not the one that counts
        sampler.sample()
        assert sampler.samples == [PartitionLag("0_0", "words", 0, 40)]  # 0_2: no end known
        assert sampler.by_task() == {"0_0": {"words[0]": 40}}

        calls = consumer.calls
        consumer.highs[("words", 0)] = 60
        now[0] += 4.9
        sampler.sample()
        assert consumer.calls == calls  # within the interval: no work at all
        now[0] += 0.2
        sampler.sample()
        assert sampler.samples == [PartitionLag("0_0", "words", 0, 50)]
    finally:
        tasks.close_all()


def test_sampler_without_clients_keeps_the_last_sample(tmp_path):
    app = counting_app(tmp_path)
    tasks = task_manager(app, partitions=1, local=[0])
    sampler = LagSampler(tasks, lambda: None)
    try:
        sampler.sample()
        assert sampler.samples == [] and sampler.by_task() == {}
    finally:
        tasks.close_all()
