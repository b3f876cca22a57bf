"""The word_count example on the broker: two instance processes, counts checked offline."""

from __future__ import annotations

import re
import struct
import uuid
from collections import Counter

import pytest

from kstreamy.testing.topics import create_topics, produce, read_topic

pytestmark = pytest.mark.integration

LINES = [
    "the cat and the hat",
    "To be or not to be",
    "the end is not the end",
    "it's a cat's life",
] * 25


def test_two_instances_count_every_word_once(bootstrap, instances):
    suffix = f"-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, {f"lines{suffix}": 4, f"word-counts{suffix}": 4})
    for name in ("a", "b"):
        instances.start(
            "example_app", f"word-count{suffix}", name=name, example="word_count", suffix=suffix
        ).wait_running()
    produce(bootstrap, f"lines{suffix}", ((None, line.encode()) for line in LINES))

    expected = Counter(w for line in LINES for w in re.findall(r"[a-z']+", line.lower()))
    latest: dict[str, int] = {}

    def complete(records) -> bool:
        # A word lives on one partition, so its last record read is its newest count.
        for record in records:
            latest[record.key().decode()] = struct.unpack(">q", record.value())[0]
        return latest == expected

    read_topic(bootstrap, f"word-counts{suffix}", complete, timeout=120)
    assert latest == dict(expected)
