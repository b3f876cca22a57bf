"""Exceptions raised by kstreamy.

Every error that concerns a record carries where it came from (topic, partition, offset) and
which part failed, because "a record failed" is useless to someone holding a 40-partition topic.
"""

from __future__ import annotations


class KStreamyError(Exception):
    """Base class of every error kstreamy raises on purpose."""


class ConfigError(KStreamyError):
    """The application configuration is invalid; raised before anything connects."""


class TopologyError(KStreamyError):
    """The topology cannot be built or run as written (missing name, bad wiring, ...)."""


class MissingTopicError(KStreamyError):
    """An input or output topic does not exist on the broker (kstreamy creates only its own
    internal topics: partitions and retention of the user's topics are the user's choice)."""

    def __init__(self, topics: list[str], bootstrap: str, role: str = "input") -> None:
        self.topics = sorted(topics)
        self.role = role
        names = ", ".join(self.topics)
        super().__init__(
            f"{role} topic(s) not found on {bootstrap}: {names}. "
            "Create them first (kstreamy does not create user topics), e.g. with "
            f"`kstreamy topics create {' '.join(self.topics)} --partitions N`."
        )


class BrokerUnreachableError(KStreamyError):
    """No broker answered at start-up: names the address tried and every way to set it."""

    def __init__(
        self, bootstrap: str, source: str, waited_s: float, cause: str, hint: str = ""
    ) -> None:
        self.bootstrap = bootstrap
        origin = "" if source == "default" else f", from {source}"
        hint = f" {hint}" if hint else ""
        super().__init__(
            f"cannot reach Kafka at {bootstrap} (bootstrap_servers{origin}) within "
            f"{waited_s:.0f}s: {cause}. Is the broker running there?{hint} Set the address with "
            "bootstrap_servers in App(...), `kstreamy run --bootstrap-servers HOST:PORT` "
            "(or --set bootstrap_servers=HOST:PORT) or the environment variable "
            "KSTREAMY_BOOTSTRAP_SERVERS"
        )


class AuthenticationError(KStreamyError):
    """A broker refused the client: wrong SASL credentials or mechanism, or a failed TLS
    handshake. Raised at start-up, at once (retrying cannot help)."""

    def __init__(self, bootstrap: str, identity: list[str], cause: str) -> None:
        self.bootstrap = bootstrap
        self.cause = cause
        who = f" ({', '.join(identity)})" if identity else ""
        super().__init__(
            f"authentication with Kafka at {bootstrap} failed{who}: {cause}. Check the "
            "security settings: security_protocol, sasl_mechanism, sasl_username and "
            "sasl_password (or ssl_* for TLS), given in App(...), as KSTREAMY_<SETTING> "
            "environment variables (KSTREAMY_SASL_PASSWORD=...) or with --set KEY=VALUE"
        )


class SerdeError(KStreamyError):
    """A value could not be (de)serialized; the serde says what was wrong with it."""


class RecordError(KStreamyError):
    """Processing stopped at one input record.

    Raised under the ``fail`` policy. The offset of the failed record is not committed, so a
    restart after fixing the cause begins at exactly this record.
    """

    def __init__(
        self,
        stage: str,
        topic: str,
        partition: int,
        offset: int,
        cause: BaseException,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.stage = stage
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.field = field
        self.cause = cause
        where = f"topic={topic} partition={partition} offset={offset}"
        what = f"{stage} of {field}" if field else stage
        message = f"{what} failed at {where}: {type(cause).__name__}: {cause}"
        super().__init__(f"{message}. {hint}" if hint else message)


class DeliveryError(KStreamyError):
    """The producer could not deliver a record; input offsets were not committed."""
