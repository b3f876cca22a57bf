"""Whether each setting's value is in its range, and settings that cannot go together.

Types are checked where settings are merged (:mod:`kstreamy.config_types`); what is left is
values: every problem is collected, so one ConfigError names them all with their sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kstreamy.config import AppConfig

MIN_STATE_MEMORY_BYTES = 8 * 1024 * 1024
"""Below this, memtables of a few stores would be flushed every few hundred writes."""


def range_problems(config: AppConfig) -> list[str]:
    """Every value out of its range, each named with where it came from."""
    problems = []
    if config.poll_batch_size is not None and config.poll_batch_size <= 0:
        problems.append(
            config.with_source(
                "poll_batch_size", f"poll_batch_size must be > 0, got {config.poll_batch_size}"
            )
        )
    for name in (
        "session_timeout_ms",
        "max_poll_interval_ms",
        "state_cache_bytes",
        "state_write_buffer_bytes",
        "state_buffer_max_records",
    ):
        if getattr(config, name) <= 0:
            value = getattr(config, name)
            problems.append(config.with_source(name, f"{name} must be > 0, got {value}"))
    problems.extend(_state_memory_problems(config))
    if config.repartition_purge_interval_ms < 0:
        problems.append(
            config.with_source(
                "repartition_purge_interval_ms",
                "repartition_purge_interval_ms must be >= 0 (0: off), got "
                f"{config.repartition_purge_interval_ms}",
            )
        )
    if config.startup_timeout_ms <= 0:
        problems.append(
            config.with_source(
                "startup_timeout_ms",
                f"startup_timeout_ms must be > 0, got {config.startup_timeout_ms}",
            )
        )
    if config.poll_timeout_ms < 0:
        problems.append(
            config.with_source(
                "poll_timeout_ms", f"poll_timeout_ms must be >= 0, got {config.poll_timeout_ms}"
            )
        )
    if config.commit_interval_ms is not None and config.commit_interval_ms < 0:
        problems.append(
            config.with_source(
                "commit_interval_ms",
                f"commit_interval_ms must be >= 0, got {config.commit_interval_ms}",
            )
        )
    if config.replication_factor == 0 or config.replication_factor < -1:
        problems.append(
            config.with_source(
                "replication_factor",
                f"replication_factor must be >= 1 (or -1: the broker's default), got "
                f"{config.replication_factor}",
            )
        )
    if config.tracing_sample_every < 0:
        problems.append(
            config.with_source(
                "tracing_sample_every",
                "tracing_sample_every must be >= 0 (0: no record spans), got "
                f"{config.tracing_sample_every}",
            )
        )
    problems.extend(_topic_config_problems(config))
    if not config.bootstrap_servers:
        problems.append(
            config.with_source("bootstrap_servers", "bootstrap_servers must not be empty")
        )
    for name in ("metrics_port", "query_port"):
        port = getattr(config, name)
        if port is not None and not 0 <= port <= 65535:
            problems.append(
                config.with_source(
                    name, f"{name} must be a TCP port (1-65535; 0 or None: off), got {port}"
                )
            )
    if config.metrics_port and config.metrics_port == config.query_port:
        problems.append(f"metrics_port and query_port must differ, both are {config.query_port}")
    return problems


def _state_memory_problems(config: AppConfig) -> list[str]:
    if config.state_memory_bytes is None:
        return []
    problems = []
    if config.state_memory_bytes < MIN_STATE_MEMORY_BYTES:
        problems.append(
            config.with_source(
                "state_memory_bytes",
                f"state_memory_bytes must be at least {MIN_STATE_MEMORY_BYTES} (8 MiB), got "
                f"{config.state_memory_bytes}",
            )
        )
    parts = [
        name
        for name in ("state_cache_bytes", "state_write_buffer_bytes")
        if name in config.setting_sources
    ]
    if parts:
        problems.append(
            config.with_source(
                "state_memory_bytes",
                f"state_memory_bytes is split between block cache and memtables by itself: "
                f"give it or {' and '.join(parts)}, not both",
            )
        )
    return problems


def _topic_config_problems(config: AppConfig) -> list[str]:
    problems = []
    if "cleanup.policy" in config.topic_config:
        problems.append(
            "topic_config cannot set cleanup.policy: kstreamy sets it per topic (changelogs "
            "must be compacted for restoration to be correct)"
        )
    min_isr = config.topic_config.get("min.insync.replicas")
    if min_isr is not None:
        if not str(min_isr).isdigit():
            problems.append(f"topic_config min.insync.replicas must be a number, got {min_isr!r}")
        elif config.replication_factor > 0 and int(min_isr) > config.replication_factor:
            problems.append(
                f"topic_config min.insync.replicas={min_isr} is more than replication_factor="
                f"{config.replication_factor}: no write could ever be acknowledged"
            )
    return [config.with_source("topic_config", p) for p in problems]
