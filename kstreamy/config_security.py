"""The security settings: which librdkafka properties they are, which hold secrets, and the
combinations that cannot work.

librdkafka sends SASL credentials only with a SASL_* ``security.protocol``, and without
``sasl.mechanism`` it uses GSSAPI (Kerberos), which takes no password: both would end in a broker
refusing the connection, far from the cause, so they are refused before anything connects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SECURITY_SETTINGS = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
    "ssl_ca_location": "ssl.ca.location",
    "ssl_certificate_location": "ssl.certificate.location",
    "ssl_key_location": "ssl.key.location",
    "ssl_key_password": "ssl.key.password",
}
"""kstreamy setting -> the librdkafka property it sets on every client. The property's own
name (``"sasl.password"``, ``KSTREAMY_KAFKA_SASL_PASSWORD``) sets the same setting."""
SECURITY_ALIASES = {prop: setting for setting, prop in SECURITY_SETTINGS.items()}
UPPER_CASE_SETTINGS = ("security_protocol", "sasl_mechanism")
_CREDENTIAL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
MASK = "***"


def is_secret(key: str) -> bool:
    """Whether a setting or librdkafka property holds a secret (masked wherever shown)."""
    name = key.lower().replace("_", ".")
    if name.endswith(".location"):
        return False
    return any(word in name for word in ("password", "secret", "token", "key", "credential"))


def masked(key: str, value: Any) -> Any:
    return MASK if value is not None and is_secret(key) else value


def security_problems(kafka_config: Mapping[str, Any], name: Callable[[str], str]) -> list[str]:
    """What is wrong with the security properties in ``kafka_config`` (librdkafka names);
    ``name`` labels a setting with where it came from."""
    protocol = str(kafka_config.get("security.protocol", "PLAINTEXT")).upper()
    mechanism = kafka_config.get("sasl.mechanism")
    mechanism = str(mechanism).upper() if mechanism is not None else None
    problems = []
    if not protocol.startswith("SASL_"):
        given = [
            s
            for s in ("sasl_mechanism", "sasl_username", "sasl_password")
            if kafka_config.get(SECURITY_SETTINGS[s]) is not None
        ]
        if given:
            problems.append(
                f"{', '.join(map(name, given))} set, but security_protocol is {protocol}, "
                "which sends no SASL credentials: set security_protocol to SASL_SSL (or "
                "SASL_PLAINTEXT for a listener without TLS)"
            )
    else:
        credentials = [
            s
            for s in ("sasl_username", "sasl_password")
            if kafka_config.get(SECURITY_SETTINGS[s]) is not None
        ]
        if mechanism is None and credentials:
            problems.append(
                f"{name('security_protocol')} is {protocol} with {' and '.join(credentials)} "
                "but no sasl_mechanism: set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 "
                "(librdkafka's default, GSSAPI, is Kerberos and takes no password)"
            )
        if mechanism in _CREDENTIAL_MECHANISMS and len(credentials) < 2:
            missing = {"sasl_username", "sasl_password"} - set(credentials)
            problems.append(f"sasl_mechanism {mechanism} needs {' and '.join(sorted(missing))}")
    if not protocol.endswith("SSL"):
        given = [
            s
            for s in SECURITY_SETTINGS
            if s.startswith("ssl_") and kafka_config.get(SECURITY_SETTINGS[s]) is not None
        ]
        if given:
            problems.append(
                f"{', '.join(map(name, given))} set, but security_protocol is {protocol}, "
                "which does not use TLS: set security_protocol to SSL or SASL_SSL"
            )
    return problems
