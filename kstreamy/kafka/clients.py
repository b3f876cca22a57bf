"""librdkafka client settings derived from the application config, and the start-up check.

Kept in one place so the consumer, producer and admin client agree on the group id, security
settings, logging and the timeouts the runtime relies on. Every Kafka client kstreamy makes
(instances, the savepoint and reset tools, the command line) starts from one of the
``*_settings`` functions here, so the security settings (``kafka_config``) reach all of them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

from kstreamy.config import AppConfig
from kstreamy.errors import AuthenticationError, BrokerUnreachableError, ConfigError
from kstreamy.kafka.log import KafkaLog

log = logging.getLogger("kstreamy.clients")

CONNECT_TIMEOUT_S = 15.0
"""How long start-up waits for a broker to answer at all."""
REFUSED_TIMEOUT_S = 5.0
"""How long it keeps trying once every broker refused the connection or did not resolve
(commands; an instance waits its ``startup_timeout_ms``)."""
WAITING_LOG_INTERVAL_S = 10.0
"""How often a starting instance says it is still waiting for the cluster."""

TRANSACTIONAL_REQUEST_TIMEOUT_MS = 30000
"""How long the transactional producer waits for any one broker response (``socket.timeout.ms``)
before it retries the request. librdkafka's default is 60 s. A transaction coordinator can
drop the response to an EndTxn it has completed when its ``__transaction_state`` partition
changes leader epoch (seen on Apache Kafka 3.1 when a restarted broker rejoins the ISR): the
commit then hangs for the whole timeout before the retry succeeds at once, and every instance
writing through that coordinator stops for as long. 30 s is the Java clients'
``request.timeout.ms``; it stays well above the ~10 s a cluster takes to fence a dead broker and
equals the broker-side timeout librdkafka gives produce requests, so no request is given up
while the broker may still answer it."""

EMBEDDED_CLUSTER_ID = "tansu_cluster"
"""The cluster id the embedded broker (Tansu) reports unless it is started with another."""
EMBEDDED_GROUP_SETTINGS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}
"""Group timeouts used on the embedded broker when the application sets neither. Tansu holds a
group join for about half the session timeout and a rebalance for about twice it, whatever
max.poll.interval.ms is; on a loopback broker a short session timeout costs nothing."""

_kafka_log = KafkaLog()


def logging_settings() -> dict[str, Any]:
    """librdkafka's log lines go through Python logging (see :mod:`kstreamy.kafka.log`)."""
    return {"logger": _kafka_log, "log.connection.close": False}


def common_settings(config: AppConfig) -> dict[str, Any]:
    """What every client gets: the brokers, logging, and the librdkafka properties given for
    all clients (``kafka_config``: security settings among them), checked together first."""
    config.check_security()
    return {
        "bootstrap.servers": config.bootstrap_servers,
        **logging_settings(),
        **config.kafka_config,
    }


def consumer_settings(config: AppConfig) -> dict[str, Any]:
    config.check_security()
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "group.id": config.application_id,
        "client.id": f"{config.application_id}-consumer",
        # Cooperative rebalancing: tasks that keep their partitions keep running.
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": config.auto_offset_reset,
        "session.timeout.ms": config.session_timeout_ms,
        "max.poll.interval.ms": config.max_poll_interval_ms,
        # librdkafka pauses fetching for this long whenever its prefetch queue is full; the 1 s
        # default caps a fast loop at about 100k records/s per partition.
        "fetch.queue.backoff.ms": 10,
        **logging_settings(),
    }
    if config.heartbeat_interval_ms is not None:
        settings["heartbeat.interval.ms"] = config.heartbeat_interval_ms
    if config.processing_guarantee == "exactly_once":
        settings["isolation.level"] = "read_committed"
    return {**settings, **config.kafka_config, **config.consumer_config}


def producer_settings(config: AppConfig) -> dict[str, Any]:
    config.check_security()
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": f"{config.application_id}-producer",
        # Same key -> same partition as Kafka's Java clients, so kstreamy and Kafka Streams
        # applications can share co-partitioned topics.
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        # From the latency profile (5 ms in "balanced"): an idle loop's records leave at once,
        # and under load the producer still batches, as records pile up while earlier requests
        # are in flight.
        "linger.ms": config.profile.linger_ms,
        "delivery.report.only.error": True,
        **logging_settings(),
    }
    if config.processing_guarantee == "exactly_once":
        settings["socket.timeout.ms"] = TRANSACTIONAL_REQUEST_TIMEOUT_MS
    given = {**config.kafka_config, **config.producer_config}
    if "queue.buffering.max.ms" in given:  # librdkafka's other name for linger.ms
        del settings["linger.ms"]
    return {**settings, **given}


def admin_settings(config: AppConfig) -> dict[str, Any]:
    return {**common_settings(config), **config.admin_config}


def create_client(factory: Any, settings: dict[str, Any], role: str) -> Any:
    """Build a client, turning librdkafka's config complaints into a ConfigError."""
    try:
        return factory(settings)
    except (KafkaException, ValueError, TypeError) as exc:
        raise ConfigError(f"invalid {role} setting: {exc}") from exc


class StartupAdmin(AdminClient):
    """The admin client of start-up: it remembers the config it was built from and the last
    connection error, so a broker that never answers gives one clear error (see
    :func:`wait_for_cluster`)."""

    def __init__(self, settings: dict[str, Any], config: AppConfig | None) -> None:
        self.config = config
        self.settings = settings
        self.bootstrap_servers = str(settings.get("bootstrap.servers", ""))
        self.last_error: str | None = None
        self.refused: str | None = None
        """The broker's own words when it refused the credentials or the TLS handshake."""
        self.all_down_since: float | None = None
        super().__init__({**settings, "error_cb": self._on_error})

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
            self.refused = error.str()
        down = error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE)
        if down and self.all_down_since is None:
            self.all_down_since = time.monotonic()
        if error.code() != KafkaError._ALL_BROKERS_DOWN or self.last_error is None:
            self.last_error = error.str()


def create_admin(config: AppConfig) -> StartupAdmin:
    return create_client(
        lambda settings: StartupAdmin(settings, config), admin_settings(config), "admin client"
    )


def wait_for_cluster(
    admin: StartupAdmin, timeout: float = CONNECT_TIMEOUT_S, patient: bool = False
) -> ClusterMetadata:
    """Cluster metadata, or a BrokerUnreachableError naming the address and how to set it.

    Gives up ``REFUSED_TIMEOUT_S`` after every broker refused the connection (or its name did
    not resolve), and after ``timeout`` in any case (a broker that does not answer at all).
    ``patient`` (an instance starting, given ``startup_timeout_ms``): refused connections are
    waited out for the whole ``timeout`` too, since a broker starting with its instances (a
    compose file, a node reboot) refuses them for a while; one line every
    ``WAITING_LOG_INTERVAL_S`` says what it waits for, instead of librdkafka's line per attempt.
    A broker that refuses the credentials (SASL) or the TLS handshake gives an
    AuthenticationError at once: librdkafka would retry for ever, and the answer will not
    change.
    This is the first thing an instance learns about its cluster, so it is also where the
    embedded broker is recognised and the config given its group timeouts (before any
    consumer is built from it).
    """
    started = time.monotonic()
    next_report = started + WAITING_LOG_INTERVAL_S
    while True:
        try:
            metadata = admin.list_topics(timeout=1.0)
        except KafkaException as exc:
            if exc.args[0].code() not in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
                raise
        else:
            _tune_for_embedded(admin, metadata)
            return metadata
        admin.poll(0)  # serves error_cb and the log lines
        if admin.refused is not None:
            raise authentication_error(admin)
        now = time.monotonic()
        refused_long = (
            not patient
            and admin.all_down_since is not None
            and now - admin.all_down_since >= REFUSED_TIMEOUT_S
        )
        if refused_long or now - started >= timeout:
            config = admin.config
            source = config.source_of("bootstrap_servers") if config else "default"
            cause = admin.last_error or "no answer"
            raise BrokerUnreachableError(
                admin.bootstrap_servers, source, now - started, cause, _security_hint(admin, cause)
            )
        if patient and now >= next_report:
            next_report = now + WAITING_LOG_INTERVAL_S
            log.warning(
                "waiting for Kafka at %s (%s); giving up in %.0fs (startup_timeout_ms)",
                admin.bootstrap_servers,
                admin.last_error or "no answer",
                timeout - (now - started),
            )


def _security_hint(admin: StartupAdmin, cause: str) -> str:
    """A broker that accepted the connection and closed it may expect TLS or SASL: librdkafka
    then reports only that the brokers are down, so say which protocol was tried."""
    if any(word in cause.lower() for word in ("refused", "resolve")):
        return ""
    protocol = str(admin.settings.get("security.protocol", "plaintext")).upper()
    source = admin.config.source_of("security_protocol") if admin.config is not None else ""
    origin = f" from {source}" if source not in ("", "default", "code") else ""
    return (
        f"If it is, its listener may expect TLS or SASL: security_protocol is {protocol}{origin}."
    )


def authentication_error(admin: StartupAdmin) -> AuthenticationError:
    """The error for a broker that refused the client: who it tried to be, and where each of
    the settings involved came from (never the password itself)."""
    config = admin.config
    settings = admin.settings

    def described(setting: str, prop: str) -> str | None:
        value = settings.get(prop)
        if value is None:
            return None
        shown = "set" if "password" in prop else str(value)
        source = config.source_of(setting) if config is not None else "default"
        origin = "" if source in ("default", "code") else f" from {source}"
        return f"{setting} {shown}{origin}"

    identity = [
        d
        for d in (
            described("security_protocol", "security.protocol"),
            described("sasl_mechanism", "sasl.mechanism"),
            described("sasl_username", "sasl.username"),
            described("sasl_password", "sasl.password"),
        )
        if d is not None
    ]
    return AuthenticationError(admin.bootstrap_servers, identity, admin.refused or "refused")


def _tune_for_embedded(admin: StartupAdmin, metadata: ClusterMetadata) -> None:
    """On the embedded broker, short group timeouts unless the application chose its own."""
    config = admin.config
    if config is None or metadata.cluster_id != EMBEDDED_CLUSTER_ID:
        return
    if any(name in config.setting_sources for name in EMBEDDED_GROUP_SETTINGS):
        return
    for name, value in EMBEDDED_GROUP_SETTINGS.items():
        setattr(config, name, value)
    log.info(
        "embedded broker: %s for fast group joins (set them to override)",
        ", ".join(f"{k}={v}" for k, v in EMBEDDED_GROUP_SETTINGS.items()),
    )
