"""Settings given as text: ``KSTREAMY_<SETTING>`` environment variables and ``--set key=value``.

An operator changes how an instance runs without editing its code: the same image or module
runs with another state directory, broker or error policy. The text is parsed to the type of
the setting here; :meth:`kstreamy.config.AppConfig.build` then checks it exactly like a value
given in code (unknown names with suggestions, wrong types, out of range).

Precedence, lowest to highest: defaults < code (``App(..., key=value)``) < environment <
command line (``kstreamy run --set``). Whoever starts the process has the last word, as with
every twelve-factor service.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

ENV_PREFIX = "KSTREAMY_"
KAFKA_ENV_PREFIX = "KSTREAMY_KAFKA_"
"""``KSTREAMY_KAFKA_SASL_PASSWORD`` sets the librdkafka property ``sasl.password``."""

NOT_SETTINGS = frozenset(
    {
        "KSTREAMY_LOG_LEVEL",
        "KSTREAMY_TANSU_BIN",
        "KSTREAMY_BOOTSTRAP",
        "KSTREAMY_RUN_TANSU_DEVIATIONS",
        "KSTREAMY_FAULT_RESET_KILL_AT",
    }
)
"""Variables kstreamy reads for other purposes (logging, the test suite, fault injection)."""

NOT_SETTING_PREFIXES = ("KSTREAMY_TEST_", "KSTREAMY_BROKER_", "KSTREAMY_CLUSTER_", "KSTREAMY_DEMO_")
"""Families of variables of the test suite (and its broker), the cluster tests and the demo."""

_NONE_WORDS = {"", "none", "null"}
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def suggest(name: str, known: Iterable[str]) -> list[str]:
    """Known names close to a misspelt one, best first."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.75)
    prefix = name.split("_")[0]
    close += [k for k in known if k.split("_")[0] == prefix and k not in close]
    return close[:3]


def parse_text(setting: str, text: str, annotation: str) -> Any:
    """The value of ``text`` for a setting annotated ``annotation`` (a type hint as a string).

    ``int`` settings take decimal integers, optional ones also ``none``; ``dict`` settings take a
    JSON object; everything else (names, paths, choices) is the text itself. Raises ValueError
    with a message naming the setting and what it expects.
    """
    optional = "None" in annotation
    if optional and text.strip().lower() in _NONE_WORDS:
        return None
    if annotation.startswith("dict"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ValueError(f"{setting} must be a JSON object, got {text!r}")
        return value
    if annotation.split("|")[0].strip() == "bool":
        word = text.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise ValueError(f"{setting} must be bool (true/false, on/off, yes/no, 1/0), got {text!r}")
    if "int" in annotation.split("|")[0]:
        try:
            return int(text.strip().replace("_", ""))
        except ValueError:
            expects = "an integer or none" if optional else "an integer"
            raise ValueError(f"{setting} must be {expects}, got {text!r}") from None
    return text


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` (the ``--set`` flags) as a dict; ValueError names a bad item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def settings_from_text(
    texts: Mapping[str, str], annotations: Mapping[str, str], where: Callable[[str], str]
) -> tuple[dict[str, Any], list[str]]:
    """Parse ``setting -> text``; returns the values and the problems (unknown names, bad
    values), each problem prefixed with ``where(key)`` (the variable or flag that gave it)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, text in texts.items():
        where_from = where(key)
        if "." in key:  # a librdkafka property: librdkafka checks it when the client starts
            values[key] = text
        elif key == "application_id":
            problems.append(f"{where_from}: the application id is App()'s first argument, fixed")
        elif key not in annotations:
            close = suggest(key, annotations)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"{where_from}: unknown setting {key!r}{hint}")
        else:
            try:
                values[key] = parse_text(key, text, annotations[key])
            except ValueError as exc:
                problems.append(f"{where_from}: {exc}")
    return values, problems


def env_texts(
    environ: Mapping[str, str], settings: Iterable[str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The ``KSTREAMY_*`` variables that name settings, as ``setting -> text``, and the
    misspelt ones as ``variable -> suggestions``.

    Empty variables count as unset. A variable that names no setting is almost certainly a
    typo when it is close to one (reported like an unknown key in code); one close to none is
    returned with no suggestion (the caller warns: it must not be ignored without a word).
    """
    by_env = {env_name(s): s for s in settings}
    texts: dict[str, str] = {}
    misspelt: dict[str, list[str]] = {}
    for variable, text in environ.items():
        if not variable.startswith(ENV_PREFIX) or text == "":
            continue
        if variable in NOT_SETTINGS or variable.startswith(NOT_SETTING_PREFIXES):
            continue
        if variable in by_env:
            texts[by_env[variable]] = text
        elif variable.startswith(KAFKA_ENV_PREFIX):
            prop = variable.removeprefix(KAFKA_ENV_PREFIX).lower().replace("_", ".")
            texts[prop] = text
        else:
            misspelt[variable] = difflib.get_close_matches(variable, by_env, n=3, cutoff=0.85)
    return texts, misspelt
