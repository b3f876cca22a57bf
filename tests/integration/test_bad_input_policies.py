"""Bad input under each policy, on a real broker with a real instance process."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, TopicPartition

from kstreamy.testing.topics import produce, read_topic
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

GOOD_1 = (b"a", json.dumps({"id": 1, "n": 1}).encode())
BAD_JSON = (b"a", b"{this is not json")
EXPLODES = (b"a", json.dumps({"id": 3, "n": 3, "explode": True}).encode())
GOOD_4 = (b"a", json.dumps({"id": 4, "n": 4}).encode())


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def _ids(records) -> list[int]:
    return [json.loads(r.value())["id"] for r in records]


@pytest.mark.parametrize(
    ("bad", "stage", "field", "setting"),
    [
        (BAD_JSON, "deserialization", "value", "on_deserialization_error"),
        (EXPLODES, "processing", None, "on_processing_error"),
    ],
)
def test_fail_stops_at_the_bad_record_and_keeps_its_offset_uncommitted(
    bootstrap, make_topic, unique_name, instances, bad, stage, field, setting
):
    source, sink = make_topic("in", 1), make_topic("out", 1)
    app_id = unique_name("fail")
    produce(bootstrap, source, [GOOD_1, bad, GOOD_4])
    instance = instances.start(
        "pipeline_app", app_id, input=source, output=sink, settings={setting: "fail"}
    )
    assert instance.wait_exit(60) == 1
    log = instance.log()
    what = f"{stage} of {field}" if field else stage
    assert f"{what} failed at topic={source} partition=0 offset=1" in log, log[-3000:]
    assert f"--set {setting}=dead_letter" in log  # the message says how to get past it
    # The good record before it was processed and committed; the bad one was not.
    assert _committed(bootstrap, app_id, source) == 1
    assert _ids(read_topic(bootstrap, sink, lambda r: len(r) >= 1, timeout=10)) == [1]
    status = instance.cli("status")
    assert status.returncode == 0, status.stderr
    assert f"error        RecordError: {what} failed at topic={source}" in status.stdout

    # Restarted as the message says, it gets past the record without a code change.
    again = instances.start(
        "pipeline_app",
        app_id,
        input=source,
        output=sink,
        settings={setting: "fail"},
        state_dir=instance.state_dir,
        cli_args=("--set", f"{setting}=skip"),
    )
    wait_until(
        lambda: (
            _ids(read_topic(bootstrap, sink, lambda r: len(r) >= 2, timeout=2)) == [1, 4]
            or not again.alive()
        ),
        60,
        what="the restarted instance to skip the bad record",
    )
    assert _ids(read_topic(bootstrap, sink, lambda r: len(r) >= 2, timeout=5)) == [1, 4]
    again.terminate()
    assert again.wait_exit(60) == 0


@pytest.mark.parametrize("setting", ["on_deserialization_error", "on_processing_error"])
def test_skip_logs_counts_and_continues(bootstrap, make_topic, unique_name, instances, setting):
    source, sink = make_topic("in", 1), make_topic("out", 1)
    bad = BAD_JSON if setting == "on_deserialization_error" else EXPLODES
    produce(bootstrap, source, [GOOD_1, bad, GOOD_4])
    instance = instances.start(
        "pipeline_app", unique_name("skip"), input=source, output=sink, settings={setting: "skip"}
    )
    output = read_topic(bootstrap, sink, lambda r: len(r) >= 2, timeout=60)
    assert _ids(output) == [1, 4]
    wait_until(lambda: instance.status().get("metrics", {}).get("records_skipped") == 1, 30)
    assert "skipped record: " in instance.log()
    assert f"topic={source} partition=0 offset=1" in instance.log()


@pytest.mark.parametrize("setting", ["on_deserialization_error", "on_processing_error"])
def test_dead_letter_keeps_raw_bytes_and_error_headers(
    bootstrap, make_topic, unique_name, instances, setting
):
    source, sink = make_topic("in", 1), make_topic("out", 1)
    app_id = unique_name("dlq")
    bad = BAD_JSON if setting == "on_deserialization_error" else EXPLODES
    produce(bootstrap, source, [GOOD_1, bad, GOOD_4])
    instances.start(
        "pipeline_app", app_id, input=source, output=sink, settings={setting: "dead_letter"}
    )
    assert _ids(read_topic(bootstrap, sink, lambda r: len(r) >= 2, timeout=60)) == [1, 4]
    dead = read_topic(bootstrap, f"{app_id}-dlq", lambda r: len(r) >= 1, timeout=30)
    assert len(dead) == 1
    assert (dead[0].key(), dead[0].value()) == bad
    headers = {k: v.decode() for k, v in dead[0].headers()}
    assert headers["kstreamy.error.topic"] == source
    assert headers["kstreamy.error.partition"] == "0"
    assert headers["kstreamy.error.offset"] == "1"
    expected_stage = "deserialization" if setting == "on_deserialization_error" else "processing"
    assert headers["kstreamy.error.stage"] == expected_stage
    assert headers["kstreamy.error.message"]


def test_missing_input_topic_is_named(bootstrap, make_topic, unique_name, instances):
    missing = unique_name("nowhere")
    instance = instances.start(
        "pipeline_app", unique_name("missing"), input=missing, output=make_topic("out", 1)
    )
    assert instance.wait_exit(60) == 1
    assert f"input topic(s) not found on {bootstrap}: {missing}" in instance.log()
