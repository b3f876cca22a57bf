"""state_memory_bytes: one bound for the block cache and memtables of all stores."""

import pytest

from kstreamy import App, ConfigError
from kstreamy.config import AppConfig
from kstreamy.state.resources import StoreResources, split_memory

MiB = 1 << 20


def test_default_bound_is_the_sum_of_the_two_parts():
    assert AppConfig.build("a").store_memory == (64 * MiB, 64 * MiB)
    config = AppConfig.build("a", state_cache_bytes=10 * MiB, state_write_buffer_bytes=6 * MiB)
    assert config.store_memory == (10 * MiB, 6 * MiB)


def test_one_number_is_split_a_quarter_to_memtables():
    config = AppConfig.build("a", state_memory_bytes=256 * MiB)
    assert config.store_memory == (192 * MiB, 64 * MiB)


@pytest.mark.parametrize("total", [8 * MiB, 256 * MiB, 256 * MiB + 3, 1_000_000_007])
def test_split_adds_up_to_the_bound(total: int):
    cache, write_buffers = split_memory(total)
    assert cache + write_buffers == total
    assert 0 < write_buffers < cache


def test_bounded_resources_hold_the_bound_in_one_cache():
    resources = StoreResources.bounded(256 * MiB)
    assert resources.total_bytes == 256 * MiB
    assert resources.write_buffer_manager.get_buffer_size() == 64 * MiB
    assert resources.store_write_buffer_bytes == 8 * MiB


def test_from_the_environment(monkeypatch):
    monkeypatch.setenv("KSTREAMY_STATE_MEMORY_BYTES", str(512 * MiB))
    assert App("a").config.store_memory == (384 * MiB, 128 * MiB)


@pytest.mark.parametrize("value", [0, -1, 8 * MiB - 1])
def test_too_small_is_rejected(value: int):
    with pytest.raises(ConfigError, match="state_memory_bytes must be at least 8388608"):
        App("a", state_memory_bytes=value)


def test_not_an_integer_is_rejected():
    with pytest.raises(ConfigError, match="state_memory_bytes must be int or None"):
        App("a", state_memory_bytes="256MB")


@pytest.mark.parametrize("part", ["state_cache_bytes", "state_write_buffer_bytes"])
def test_bound_and_a_part_together_are_rejected(part: str):
    with pytest.raises(ConfigError, match=f"give it or {part}, not both"):
        App("a", state_memory_bytes=256 * MiB, **{part: 32 * MiB})


def test_conflict_names_where_the_bound_came_from(monkeypatch):
    monkeypatch.setenv("KSTREAMY_STATE_MEMORY_BYTES", str(256 * MiB))
    with pytest.raises(ConfigError, match="KSTREAMY_STATE_MEMORY_BYTES: state_memory_bytes"):
        App("a", state_cache_bytes=32 * MiB)
