"""Application configuration: one validated object, checked before anything connects.

Keys are snake_case kstreamy settings. Any key containing a dot is a librdkafka property
(``"security.protocol"``, ``"sasl.mechanism"``, ...) passed through to every client, so the
security settings of an existing Kafka setup can be used unchanged. Per-client librdkafka
properties go in ``consumer_config`` / ``producer_config`` / ``admin_config``.

Settings given in code can be overridden without touching the code: ``KSTREAMY_<SETTING>``
environment variables override code, and ``kstreamy run --set key=value`` overrides both (see
:mod:`kstreamy.config_sources`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from kstreamy.config_sources import (
    KAFKA_ENV_PREFIX,
    env_name,
    env_texts,
    settings_from_text,
    suggest,
)
from kstreamy.errors import ConfigError

ProcessingGuarantee = Literal["at_least_once", "exactly_once"]
ErrorPolicy = Literal["fail", "skip", "dead_letter"]
OffsetReset = Literal["earliest", "latest"]
LogFormat = Literal["text", "json"]
LatencyProfile = Literal["low", "balanced", "throughput"]


@dataclasses.dataclass(frozen=True)
class ProfileSettings:
    """What a ``latency_profile`` sets; any of it given explicitly wins."""

    commit_interval_ms: int
    """Under at-least-once (exactly-once commits every 100 ms in every profile)."""
    linger_ms: int
    """The producer's ``linger.ms``."""
    poll_batch_size: int


LATENCY_PROFILES: dict[str, ProfileSettings] = {
    "low": ProfileSettings(commit_interval_ms=1000, linger_ms=0, poll_batch_size=500),
    "balanced": ProfileSettings(commit_interval_ms=5000, linger_ms=5, poll_batch_size=2000),
    "throughput": ProfileSettings(commit_interval_ms=30000, linger_ms=100, poll_batch_size=5000),
}
"""Latency against throughput, set together. The producer sends as soon as a record is ready
when the loop is idle, and batches by itself under load (records pile up while earlier requests
are in flight), so a small ``linger.ms`` costs little throughput; ``throughput`` is Kafka
Streams' choice (``linger.ms`` 100, 30 s commits at least once)."""

_APP_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


@dataclasses.dataclass
class AppConfig:
    """Every kstreamy setting with its default.

    Defaults follow Kafka Streams where it has one, except ``commit_interval_ms`` under
    at-least-once: 5 s instead of 30 s, which bounds the replay after a crash at little cost.
    """

    application_id: str
    bootstrap_servers: str = "localhost:9092"
    processing_guarantee: ProcessingGuarantee = "at_least_once"
    latency_profile: LatencyProfile = "balanced"
    """Sets ``commit_interval_ms`` (at least once), the producer's ``linger.ms`` and
    ``poll_batch_size`` together (see :data:`LATENCY_PROFILES`); explicit settings win."""
    commit_interval_ms: int | None = None
    state_dir: str = "./state"
    state_cache_bytes: int = 64 * 1024 * 1024
    state_write_buffer_bytes: int = 64 * 1024 * 1024
    state_buffer_max_records: int = 100_000
    auto_offset_reset: OffsetReset = "earliest"
    on_deserialization_error: ErrorPolicy = "fail"
    on_processing_error: ErrorPolicy = "fail"
    dead_letter_topic: str | None = None
    poll_batch_size: int | None = None
    """None: the latency profile's (2000 in ``balanced``)."""
    poll_timeout_ms: int = 100
    session_timeout_ms: int = 10000
    max_poll_interval_ms: int = 300000
    heartbeat_interval_ms: int | None = None
    replication_factor: int = -1
    """Of the topics kstreamy creates; -1 takes the broker's ``default.replication.factor``
    (as Kafka Streams does since 3.0), so a cluster's own policy applies unless overridden."""
    topic_config: dict[str, str] = dataclasses.field(default_factory=dict)
    """Topic settings for every topic kstreamy creates (``min.insync.replicas``,
    ``retention.ms``, ...), over the ones it sets itself."""
    instance_id: str | None = None
    metrics_port: int | None = None
    query_port: int | None = None
    query_host: str = "127.0.0.1"
    log_format: LogFormat = "text"
    consumer_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    producer_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    admin_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    kafka_config: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def profile(self) -> ProfileSettings:
        return LATENCY_PROFILES[self.latency_profile]

    @property
    def effective_commit_interval_ms(self) -> int:
        if self.commit_interval_ms is not None:
            return self.commit_interval_ms
        if self.processing_guarantee == "exactly_once":
            return 100
        return self.profile.commit_interval_ms

    @property
    def effective_poll_batch_size(self) -> int:
        if self.poll_batch_size is not None:
            return self.poll_batch_size
        return self.profile.poll_batch_size

    @property
    def dead_letter_topic_name(self) -> str:
        return self.dead_letter_topic or f"{self.application_id}-dlq"

    @property
    def app_state_dir(self) -> Path:
        return Path(self.state_dir) / self.application_id

    setting_sources: ClassVar[dict[str, str]] = {}
    """Where each setting not left at its default came from: ``"code"``, the environment
    variable's name, or ``"--set"``. Error messages name it, so an operator knows what to
    change."""
    _given: ClassVar[dict[str, Any]] = {}

    @classmethod
    def build(cls, application_id: str, **settings: Any) -> AppConfig:
        """Validate settings given in code, with ``KSTREAMY_<SETTING>`` environment variables
        over them. Every problem (unknown keys with suggestions, wrong types, out of range) is
        reported at once, in one ConfigError."""
        annotations = _annotations()
        texts, misspelt = env_texts(os.environ, annotations)
        env_values, problems = settings_from_text(texts, annotations, _env_label)
        labels = {key: _env_label(key) for key in env_values}
        for variable, close in misspelt.items():
            problems.append(f"{variable} names no setting (did you mean {', '.join(close)}?)")
        code = {key: "code" for key in settings}
        return cls._merge(application_id, [(settings, code, []), (env_values, labels, problems)])

    def with_overrides(self, texts: Mapping[str, str], source: str = "--set") -> AppConfig:
        """A new config with settings given as text (``kstreamy run --set key=value``) over
        everything else, parsed to each setting's type and validated like code."""
        values, problems = settings_from_text(
            texts, _annotations(), lambda key: f"{source} {key}={texts[key]}"
        )
        labels = {key: source for key in values}
        return self._merge(
            self.application_id,
            [(self._given, self.setting_sources, []), (values, labels, problems)],
        )

    @classmethod
    def _merge(
        cls,
        application_id: str,
        layers: list[tuple[Mapping[str, Any], Mapping[str, str], list[str]]],
    ) -> AppConfig:
        """Later layers win. Each layer: values, where each came from, problems found so far."""
        annotations = _annotations()
        given: dict[str, Any] = {}
        sources: dict[str, str] = {}
        problems: list[str] = []
        for values, labels, layer_problems in layers:
            problems.extend(layer_problems)
            for key, value in values.items():
                if "." in key or key in annotations:
                    given[key] = value
                    sources[key] = labels[key]
                else:
                    close = suggest(key, annotations)
                    hint = f" (did you mean {', '.join(close)}?)" if close else ""
                    problems.append(f"unknown setting {key!r}{hint}")
        if not isinstance(application_id, str) or not _APP_ID.match(application_id):
            problems.append(
                f"application_id {application_id!r} must be 1-200 characters of "
                "letters, digits, '.', '_' or '-' (it names the consumer group and topics)"
            )
        known = {k: v for k, v in given.items() if "." not in k}
        for key, value in known.items():
            problems.extend(
                _where(sources[key], p) for p in _check_type(key, value, annotations[key])
            )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        config = cls(application_id=application_id, **known)
        passthrough = {k: v for k, v in given.items() if "." in k}
        config.kafka_config = {**config.kafka_config, **passthrough}
        config.setting_sources = sources
        config._given = given
        config._check_ranges()
        return config

    def _check_ranges(self) -> None:
        problems = []
        if self.poll_batch_size is not None and self.poll_batch_size <= 0:
            problems.append(
                self._at(
                    "poll_batch_size", f"poll_batch_size must be > 0, got {self.poll_batch_size}"
                )
            )
        for name in (
            "session_timeout_ms",
            "max_poll_interval_ms",
            "state_cache_bytes",
            "state_write_buffer_bytes",
            "state_buffer_max_records",
        ):
            if getattr(self, name) <= 0:
                problems.append(self._at(name, f"{name} must be > 0, got {getattr(self, name)}"))
        if self.poll_timeout_ms < 0:
            problems.append(
                self._at(
                    "poll_timeout_ms", f"poll_timeout_ms must be >= 0, got {self.poll_timeout_ms}"
                )
            )
        if self.commit_interval_ms is not None and self.commit_interval_ms < 0:
            problems.append(
                self._at(
                    "commit_interval_ms",
                    f"commit_interval_ms must be >= 0, got {self.commit_interval_ms}",
                )
            )
        if self.replication_factor == 0 or self.replication_factor < -1:
            problems.append(
                self._at(
                    "replication_factor",
                    f"replication_factor must be >= 1 (or -1: the broker's default), got "
                    f"{self.replication_factor}",
                )
            )
        problems.extend(self._topic_config_problems())
        if not self.bootstrap_servers:
            problems.append(self._at("bootstrap_servers", "bootstrap_servers must not be empty"))
        for name in ("metrics_port", "query_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                problems.append(
                    self._at(
                        name, f"{name} must be a TCP port (1-65535; 0 or None: off), got {port}"
                    )
                )
        if self.metrics_port and self.metrics_port == self.query_port:
            problems.append(f"metrics_port and query_port must differ, both are {self.query_port}")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))

    def _topic_config_problems(self) -> list[str]:
        problems = []
        if "cleanup.policy" in self.topic_config:
            problems.append(
                "topic_config cannot set cleanup.policy: kstreamy sets it per topic (changelogs "
                "must be compacted for restoration to be correct)"
            )
        min_isr = self.topic_config.get("min.insync.replicas")
        if min_isr is not None:
            if not str(min_isr).isdigit():
                problems.append(
                    f"topic_config min.insync.replicas must be a number, got {min_isr!r}"
                )
            elif self.replication_factor > 0 and int(min_isr) > self.replication_factor:
                problems.append(
                    f"topic_config min.insync.replicas={min_isr} is more than replication_factor="
                    f"{self.replication_factor}: no write could ever be acknowledged"
                )
        return [self._at("topic_config", p) for p in problems]

    def _at(self, setting: str, problem: str) -> str:
        return _where(self.setting_sources.get(setting, "code"), problem)

    def source_of(self, setting: str) -> str:
        """Where a setting's value came from: code, an environment variable, --set, default."""
        return self.setting_sources.get(setting, "default")

    def redacted(self) -> dict[str, Any]:
        """Settings for logs and ``describe``: secrets masked."""
        out = dataclasses.asdict(self)
        for section in ("consumer_config", "producer_config", "admin_config", "kafka_config"):
            out[section] = {
                k: ("***" if any(s in k for s in ("password", "secret", "key")) else v)
                for k, v in out[section].items()
            }
        return out


def _annotations() -> dict[str, str]:
    """Setting name -> its type hint as a string (``application_id`` is not a setting)."""
    return {
        f.name: str(f.type) for f in dataclasses.fields(AppConfig) if f.name != "application_id"
    }


def _env_label(key: str) -> str:
    if "." in key:
        return KAFKA_ENV_PREFIX + key.upper().replace(".", "_")
    return env_name(key)


def _where(source: str, problem: str) -> str:
    """Prefix a problem with its source unless it was given in code."""
    return problem if source == "code" else f"{source}: {problem}"


def _check_type(key: str, value: Any, annotation: str) -> list[str]:
    expected = _annotation_types(annotation)
    allowed_literals = _literal_values(annotation)
    if allowed_literals is not None:
        if value not in allowed_literals:
            return [f"{key} must be one of {', '.join(map(repr, allowed_literals))}, got {value!r}"]
        return []
    if value is None and type(None) in expected:
        return []
    if isinstance(value, bool) and bool not in expected:
        return [f"{key} must be {_type_names(expected)}, got bool {value!r}"]
    if not isinstance(value, tuple(t for t in expected if t is not type(None))):
        return [f"{key} must be {_type_names(expected)}, got {type(value).__name__} {value!r}"]
    return []


_LITERALS = {
    "ProcessingGuarantee": ProcessingGuarantee,
    "ErrorPolicy": ErrorPolicy,
    "OffsetReset": OffsetReset,
    "LogFormat": LogFormat,
    "LatencyProfile": LatencyProfile,
}
_SIMPLE = {"int": int, "str": str, "None": type(None), "bool": bool, "Path": Path}


def _literal_values(annotation: str) -> tuple[Any, ...] | None:
    literal = _LITERALS.get(annotation.strip())
    return get_args(literal) if literal is not None else None


def _annotation_types(annotation: str) -> tuple[type, ...]:
    if annotation.startswith("dict"):
        return (dict,)
    types = []
    for part in annotation.split("|"):
        part = part.strip()
        types.append(_SIMPLE.get(part, object))
    if str in types:
        types.append(Path)
    return tuple(types)


def _type_names(types: tuple[type, ...]) -> str:
    names = [t.__name__ if t is not type(None) else "None" for t in types if t is not Path]
    return " or ".join(names)
