"""Invalid event times are bad input: they follow the policy and name where they were."""

from __future__ import annotations

import pytest

from kstreamy import App
from kstreamy.errors import RecordError
from kstreamy.testing import TestDriver
from kstreamy.windows import Tumbling


def windowed_app(policy: str, extractor) -> App:
    app = App("bad-times", on_processing_error=policy)
    (
        app.stream("in", key_serde="str", value_serde="json", timestamp=extractor)
        .group_by_key()
        .window(Tumbling(10.0))
        .count(store="c")
        .to("out", key_serde="windowed-json", value_serde="int")
    )
    return app


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"ts": -5}, "negative"),
        ({"ts": "soon"}, "not seconds"),
        ({}, "KeyError"),
        ({"ts": None}, "not seconds"),
    ],
)
def test_an_invalid_timestamp_fails_with_where_and_why(value, why):
    driver = TestDriver(windowed_app("fail", lambda k, v, ts: v["ts"]))
    with pytest.raises(RecordError, match=r"topic=in partition=0 offset=0") as info:
        driver.pipe("in", "k", value)
    assert why in str(info.value)
    assert "timestamp" in str(info.value)


def test_an_invalid_timestamp_can_be_dead_lettered():
    driver = TestDriver(windowed_app("dead_letter", lambda k, v, ts: v["ts"]))
    driver.pipe("in", "k", {"ts": -1})
    driver.pipe("in", "k", {"ts": 5.5})
    (dead,) = driver.dead_letters
    assert dict(dead.headers)["kstreamy.error.field"] == b"timestamp"
    assert driver.watermarks() == {"0_0": 5.5}


def test_a_negative_kafka_timestamp_is_invalid_for_event_time():
    app = windowed_app("skip", None)
    driver = TestDriver(app)
    driver.pipe("in", "k", {"x": 1}, timestamp=-0.001)
    assert driver.metrics.records_skipped == 1
