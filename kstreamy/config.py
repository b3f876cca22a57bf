"""Application configuration: one validated object, checked before anything connects.

Keys are snake_case kstreamy settings. Any key containing a dot is a librdkafka property
(``"security.protocol"``, ``"sasl.mechanism"``, ...) passed through to every client, so the
security settings of an existing Kafka setup can be used unchanged. Per-client librdkafka
properties go in ``consumer_config`` / ``producer_config`` / ``admin_config``.

The common security properties are also settings of their own (``security_protocol``,
``sasl_mechanism``, ``sasl_username``, ``sasl_password``, ``ssl_*``; see
:data:`SECURITY_SETTINGS`): given either way, they are checked together before anything
connects (credentials that would never be sent, a missing mechanism), they reach every client
through ``kafka_config``, and secrets are masked wherever a config is shown.

Settings given in code can be overridden without touching the code: ``KSTREAMY_<SETTING>``
environment variables override code, and ``kstreamy run --set key=value`` overrides both (see
:mod:`kstreamy.config_sources`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kstreamy.config_ranges import range_problems
from kstreamy.config_security import (
    MASK,
    SECURITY_ALIASES,
    SECURITY_SETTINGS,
    UPPER_CASE_SETTINGS,
    masked,
    security_problems,
)
from kstreamy.config_sources import (
    KAFKA_ENV_PREFIX,
    env_name,
    env_texts,
    settings_from_text,
    suggest,
)
from kstreamy.config_types import (
    ErrorPolicy,
    LogFormat,
    OffsetReset,
    ProcessingGuarantee,
    SaslMechanism,
    SecurityProtocol,
    check_type,
)
from kstreamy.errors import ConfigError
from kstreamy.latency_profiles import LATENCY_PROFILES, LatencyProfile, ProfileSettings
from kstreamy.state.resources import split_memory

log = logging.getLogger("kstreamy.config")


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
    state_memory_bytes: int | None = None
    """The most memory all RocksDB stores of the instance may use together: block cache (data,
    index and filter blocks) and memtables. One number, because that is what an operator knows
    (the memory left for state in a container); a quarter goes to memtables. None: the sum of
    ``state_cache_bytes`` and ``state_write_buffer_bytes``, for those who tune the split."""
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
    startup_timeout_ms: int = 60000
    """How long a starting instance waits for the cluster to answer (a broker still starting
    refuses connections for a while) before it stops with an error naming the address."""
    session_timeout_ms: int = 45000
    # Kafka's default since 3.0 (KIP-735). A member must reach its group coordinator within
    # this time; when the coordinator's broker dies, the cluster needs ~10 s to fence it and
    # more for the new coordinator to load the group, so 10 s lost the session (and every
    # task, with a rebalance) on each coordinator failover.
    max_poll_interval_ms: int = 300000
    heartbeat_interval_ms: int | None = None
    replication_factor: int = -1
    """Of the topics kstreamy creates; -1 takes the broker's ``default.replication.factor``
    (as Kafka Streams does since 3.0), so a cluster's own policy applies unless overridden."""
    repartition_purge_interval_ms: int = 30000
    """How often read records are deleted from repartition topics (Kafka Streams' default);
    0 turns it off."""
    topic_config: dict[str, str] = dataclasses.field(default_factory=dict)
    """Topic settings for every topic kstreamy creates (``min.insync.replicas``,
    ``retention.ms``, ...), over the ones it sets itself."""
    instance_id: str | None = None
    metrics_port: int | None = None
    query_port: int | None = None
    query_host: str = "127.0.0.1"
    log_format: LogFormat = "text"
    tracing: bool = False
    """OpenTelemetry spans (poll, process, commit, restore, sampled records) and W3C trace
    context in record headers; needs the ``otel`` extra. Off, it costs nothing per record."""
    tracing_sample_every: int = 100
    """With tracing on, one input record in this many gets a span of its own (and its outputs
    its trace context); 1: every record, 0: none."""
    security_protocol: SecurityProtocol | None = None
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: str | None = None
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
    def store_memory(self) -> tuple[int, int]:
        """``(block_cache_bytes, write_buffer_bytes)`` of the instance's RocksDB stores; their
        sum is the bound (``state_memory_bytes`` when set)."""
        if self.state_memory_bytes is not None:
            return split_memory(self.state_memory_bytes)
        return self.state_cache_bytes, self.state_write_buffer_bytes

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
            if close:
                problems.append(f"{variable} names no setting (did you mean {', '.join(close)}?)")
            else:
                log.warning(
                    "environment variable %s names no kstreamy setting: ignored (settings: "
                    "KSTREAMY_<SETTING> for App settings, KSTREAMY_KAFKA_<PROPERTY> for client "
                    "properties)",
                    variable,
                )
        code = {key: "code" for key in settings}
        return cls._merge(application_id, [(settings, code, []), (env_values, labels, problems)])

    def with_overrides(self, texts: Mapping[str, str], source: str = "--set") -> AppConfig:
        """A new config with settings given as text (``kstreamy run --set key=value``) over
        everything else, parsed to each setting's type and validated like code."""
        annotations = _annotations()

        def label(key: str) -> str:
            # A misspelt name may hold a secret (--set sasl_pasword=...): show known ones only.
            shown = texts[key] if key in annotations else MASK
            return f"{source} {key}={masked(key, shown)}"

        values, problems = settings_from_text(texts, annotations, label)
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
            in_layer: dict[str, str] = {}
            for given_key, value in values.items():
                key = SECURITY_ALIASES.get(given_key, given_key)
                if key in UPPER_CASE_SETTINGS and isinstance(value, str):
                    value = value.upper()
                if key in in_layer and given.get(key) != value:
                    problems.append(
                        f"{key} is given twice, as {in_layer[key]} and {given_key}, "
                        "with different values"
                    )
                in_layer[key] = given_key
                if "." in key or key in annotations:
                    given[key] = value
                    sources[key] = labels[given_key]
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
                _where(sources[key], p) for p in check_type(key, value, annotations[key])
            )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        config = cls(application_id=application_id, **known)
        passthrough = {k: v for k, v in given.items() if "." in k}
        security = {
            prop: getattr(config, setting)
            for setting, prop in SECURITY_SETTINGS.items()
            if getattr(config, setting) is not None
        }
        config.kafka_config = {**config.kafka_config, **passthrough, **security}
        config.setting_sources = sources
        config._given = given
        problems = range_problems(config)
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return config

    def check_security(self) -> None:
        """Security properties that cannot work together: a ConfigError before anything
        connects (the settings of every client kstreamy makes come from
        :mod:`kstreamy.kafka.clients`, which calls this). Not checked when the App is built:
        an operator may give the password in the environment and the protocol with ``--set``.
        """

        def name(setting: str) -> str:
            where = self.setting_sources.get(setting)
            return setting if where in (None, "code") else f"{setting} (from {where})"

        problems = security_problems(self.kafka_config, name)
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))

    def with_source(self, setting: str, problem: str) -> str:
        """``problem`` prefixed with where ``setting`` came from (nothing when from code)."""
        return _where(self.setting_sources.get(setting, "code"), problem)

    def source_of(self, setting: str) -> str:
        """Where a setting's value came from: code, an environment variable, --set, default."""
        return self.setting_sources.get(setting, "default")

    def redacted(self) -> dict[str, Any]:
        """Settings for logs and ``describe``: secrets masked."""
        out = {key: masked(key, value) for key, value in dataclasses.asdict(self).items()}
        for section in ("consumer_config", "producer_config", "admin_config", "kafka_config"):
            out[section] = {k: masked(k, v) for k, v in out[section].items()}
        return out

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in self.redacted().items())
        return f"AppConfig({shown})"


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
