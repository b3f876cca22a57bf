"""Count words across lines of text, with the counts kept in a changelog-backed store.

Input: topic ``lines`` (values: text). Output: ``word-counts`` (key: word, value: 8-byte count),
one record per update. Create both first; the partition count of ``lines`` is the most
instances that can share the work:

    kstreamy topics create lines word-counts --partitions 4
    kstreamy run examples.word_count:app
    kstreamy run examples.word_count:app --state-dir /tmp/wc-2      # a second instance here
    printf 'to be or not to be\n' | kstreamy topics produce lines --app examples.word_count:app
    kstreamy topics tail word-counts --app examples.word_count:app
 ``group_by_key`` after ``flat_map`` repartitions through
``word-count-words-repartition`` so that every occurrence of a word meets in one task; the
counts live in the ``counts`` store, backed by ``word-count-counts-changelog``.
"""

from __future__ import annotations

import re
from typing import Any

from kstreamy import App

WORD = re.compile(r"[a-z']+")


def words(key: bytes | None, line: str) -> list[tuple[str, str]]:
    return [(word, word) for word in WORD.findall(line.lower())]


def build_app(suffix: str = "", **settings: Any) -> App:
    """The application; ``suffix`` goes after its id and topic names, so that several copies
    (a staging run, a test) can share one broker."""
    app = App(f"word-count{suffix}", **settings)
    (
        app.stream(f"lines{suffix}", value_serde="str")
        .flat_map(words)
        .group_by_key(name="words", key_serde="str", value_serde="str")
        .count(store="counts")
        .to(f"word-counts{suffix}", value_serde="int")
    )
    return app


app = build_app()
