"""The README's Python snippets, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"

BROKER_MARKER = "EmbeddedBroker("
"""Snippets with this start a broker: they run with the integration tests."""


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def snippet_id(snippet: str, index: int) -> str:
    """The App id a snippet builds, else its position: readable test ids."""
    match = re.search(r'App\(\s*"([^"]+)"', snippet)
    return match.group(1) if match else f"snippet-{index}"


def run_snippet(snippet: str) -> dict[str, Any]:
    """Execute as written, in a fresh namespace; returns what it defined."""
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    exec(compile(snippet, str(README), "exec"), namespace)
    return namespace
