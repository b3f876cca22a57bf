"""Count words across lines of text, with the counts kept in a changelog-backed store.

    kstreamy run examples.word_count:app

Input: topic ``lines`` (values: text). Output: ``word-counts`` (key: word, value: 8-byte count),
one record per update. ``group_by_key`` after ``flat_map`` repartitions through
``word-count-words-repartition`` so that every occurrence of a word meets in one task; the
counts live in the ``counts`` store, backed by ``word-count-counts-changelog``.
"""

from __future__ import annotations

import re

from kstreamy import App

WORD = re.compile(r"[a-z']+")

app = App("word-count")

(
    app.stream("lines", value_serde="str")
    .flat_map(lambda key, line: [(word, word) for word in WORD.findall(line.lower())])
    .group_by_key(name="words", key_serde="str", value_serde="str")
    .count(store="counts")
    .to("word-counts", value_serde="int")
)
