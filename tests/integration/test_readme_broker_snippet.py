"""The README snippets that start the embedded broker, run as written."""

from __future__ import annotations

import re

import pytest

from tests_support.readme import BROKER_MARKER, python_snippets, run_snippet

pytestmark = pytest.mark.integration

BROKER_SNIPPETS = [s for s in python_snippets() if BROKER_MARKER in s]


def test_the_readme_shows_the_embedded_broker():
    assert len(BROKER_SNIPPETS) == 1


@pytest.mark.parametrize("snippet", BROKER_SNIPPETS)
def test_embedded_broker_snippet_prints_its_address(snippet, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_snippet(snippet)
    assert re.fullmatch(r"127\.0\.0\.1:\d+\n", capsys.readouterr().out)
