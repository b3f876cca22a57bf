"""Every Python snippet in docs/*.md runs as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
SNIPPETS = [
    (page, snippet)
    for page in sorted(DOCS.glob("*.md"))
    for snippet in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
]


def test_the_docs_have_snippets():
    assert SNIPPETS


@pytest.mark.parametrize(
    ("page", "snippet"), SNIPPETS, ids=[f"{p.stem}-{i}" for i, (p, _) in enumerate(SNIPPETS)]
)
def test_snippet_runs(page, snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, str(page), "exec"), {"__name__": "docs_snippet"})
