from word_count import app

from kstreamy.testing import TestDriver


def test_counts_every_word_across_lines():
    driver = TestDriver(app)
    driver.pipe("lines", None, "The cat and the hat")
    driver.pipe("lines", None, "the END")
    updates = driver.read("word-counts")
    assert updates[-1] == ("end", 1)
    assert [count for word, count in updates if word == "the"] == [1, 2, 3]
    counts = dict(driver.store("counts").items())
    assert counts == {"the": 3, "cat": 1, "and": 1, "hat": 1, "end": 1}


def test_the_topology_repartitions_before_counting():
    text = app.describe()
    assert "word-count-words-repartition" in text
    assert "Sub-topology: 1" in text
