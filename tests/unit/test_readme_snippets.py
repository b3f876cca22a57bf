"""Every Python snippet in the README runs as written and does what the text around it says.

A snippet either asserts its own claims or has a check here, keyed by a string it contains;
snippets that start a broker run with the integration tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kstreamy.kafka.clients import admin_settings, consumer_settings, producer_settings
from kstreamy.testing import TestDriver
from tests_support.readme import BROKER_MARKER, python_snippets, run_snippet, snippet_id

SNIPPETS = python_snippets()
UNIT_SNIPPETS = [(i, s) for i, s in enumerate(SNIPPETS) if BROKER_MARKER not in s]


def _order_routing(ns: dict[str, Any]) -> None:
    app = ns["app"]
    driver = TestDriver(app)
    driver.pipe("orders", "o1", {"region": "eu", "amount_cents": 1250})
    driver.pipe("orders", "o2", {"region": "us", "amount_cents": 99})
    driver.pipe("orders", "o3", {"region": "eu", "amount_cents": 5, "test": True})
    assert driver.read("orders-eu") == [
        ("o1", {"region": "eu", "amount_cents": 1250, "amount": 12.5})
    ]
    assert driver.read("orders-other") == [
        ("o2", {"region": "us", "amount_cents": 99, "amount": 0.99})
    ]
    driver.pipe_raw("orders", b"o4", b"{not json")  # on_deserialization_error="dead_letter"
    assert [(r.topic, r.raw_value) for r in driver.dead_letters] == [
        ("order-routing-dlq", b"{not json")
    ]


def _word_count(ns: dict[str, Any]) -> None:
    updates = ns["driver"].read("word-counts")
    assert dict(updates) == {"to": 2, "be": 2, "or": 1, "not": 1}
    assert len(updates) == 6  # one update per word read


def _first_seen(ns: dict[str, Any]) -> None:
    driver = ns["driver"]
    driver.pipe("events", "k", {"x": 2})
    driver.pipe("events", "j", {"x": 3})
    assert driver.read("first-events") == [("j", {"x": 3})]


def _avro(ns: dict[str, Any]) -> None:
    driver = TestDriver(ns["app"])
    driver.pipe("readings-avro", "s1", {"sensor": "s1", "value": 2.5})
    assert [r.raw_value for r in driver.records("readings-json")] == [
        b'{"sensor":"s1","value":2.5}'
    ]


def _exactly_once(ns: dict[str, Any]) -> None:
    config = ns["app"].config
    assert config.processing_guarantee == "exactly_once"
    assert config.effective_commit_interval_ms == 100  # "each 100 ms by default"


def _secure(ns: dict[str, Any]) -> None:
    config = ns["app"].config
    expected = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc-streams",
        "sasl.password": "change-me",
    }
    assert config.kafka_config == expected
    for make in (consumer_settings, producer_settings, admin_settings):  # "every client"
        assert expected.items() <= make(config).items()
    assert "change-me" not in repr(config)  # "never printed"


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    '"order-routing"': _order_routing,
    'App("word-count")': _word_count,
    "class FirstSeen": _first_seen,
    "AvroSerde(schema)": _avro,
    'App("payments"': _exactly_once,
    '"secure-app"': _secure,
}


def test_the_readme_has_snippets_and_each_check_finds_its_snippet():
    assert len(SNIPPETS) >= 4
    for marker in CHECKS:
        assert sum(marker in snippet for snippet in SNIPPETS) == 1, marker


@pytest.mark.parametrize(
    "snippet", SNIPPETS, ids=[snippet_id(s, i) for i, s in enumerate(SNIPPETS)]
)
def test_every_snippet_is_checked(snippet):
    checked = "assert " in snippet or any(marker in snippet for marker in CHECKS)
    assert checked or BROKER_MARKER in snippet, "add a check for this snippet to CHECKS"


@pytest.mark.parametrize(
    "snippet", [s for _, s in UNIT_SNIPPETS], ids=[snippet_id(s, i) for i, s in UNIT_SNIPPETS]
)
def test_snippet_runs_and_does_what_it_says(snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = run_snippet(snippet)
    for marker, check in CHECKS.items():
        if marker in snippet:
            check(namespace)
