"""``kstreamy reset``: back to a savepoint, the beginning or a time; refusals and a reset
interrupted by SIGKILL. Real broker, real instance processes."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient

from kstreamy.config import AppConfig
from kstreamy.runtime.reset_marker import read_marker
from kstreamy.testing.topics import produce, read_all, read_topic
from tests_support.app_cli import app_env, kstreamy, ok

pytestmark = pytest.mark.integration

KEYS = [f"key-{i:03d}" for i in range(30)]
BASE_TS = 1_700_000_000_000
KEEPS_KILLED_MEMBERS = "keeps a killed member in a stable group long past its session timeout"


def _events(start: int, stop: int):
    for i in range(start, stop):
        yield KEYS[i % len(KEYS)].encode(), json.dumps({"n": i}).encode()


def _counts(start: int, stop: int) -> dict[str, int]:
    return dict(Counter(KEYS[i % len(KEYS)] for i in range(start, stop)))


def _sums(start: int, stop: int) -> dict[str, int]:
    sums: Counter[str] = Counter()
    for i in range(start, stop):
        sums[KEYS[i % len(KEYS)]] += i
    return dict(sums)


def _latest_int(records) -> dict[str, int]:
    return {r.key().decode(): int.from_bytes(r.value(), "big", signed=True) for r in records}


def _latest_json(records) -> dict[str, int]:
    return {r.key().decode(): json.loads(r.value()) for r in records}


class CountsApp:
    """tests/apps/counts_app.py with its topics, instances and command line."""

    def __init__(self, bootstrap, make_topic, unique_name, instances, tmp_path, partitions=2):
        self.bootstrap = bootstrap
        self.settings = {
            "input": make_topic("in", partitions),
            "output": make_topic("counts", partitions),
            "sums_output": make_topic("sums", partitions),
        }
        self.app_id = unique_name("reset")
        self.instances = instances
        self.tmp_path = tmp_path
        self.env = app_env(bootstrap, self.app_id, tmp_path / "cli-state", **self.settings)

    def start(self, name: str, state_dir: Path | None = None):
        return self.instances.start(
            "counts_app", self.app_id, name=name, state_dir=state_dir, **self.settings
        )

    def cli(self, *args: str):
        command, *rest = args
        if command == "savepoint":
            return kstreamy(self.env, command, rest[0], "counts_app:build_app", *rest[1:])
        return kstreamy(self.env, command, "counts_app:build_app", *rest)

    def mark(self) -> dict[tuple[str, int], int]:
        """End offsets of the output topics: results after this point come from what runs next."""
        ends: dict[tuple[str, int], int] = {}
        for topic in (self.settings["output"], self.settings["sums_output"]):
            for record in read_all(self.bootstrap, topic):
                key = (topic, record.partition())
                ends[key] = max(ends.get(key, 0), record.offset() + 1)
        return ends

    def wait_results(
        self,
        counts: dict[str, int],
        sums: dict[str, int],
        since: dict[tuple[str, int], int] | None = None,
    ) -> None:
        """The latest result per key equals the expectation; with ``since``, every key's latest
        result must have been written after that mark."""
        since = since or {}

        def after(records):
            return [r for r in records if r.offset() >= since.get((r.topic(), r.partition()), 0)]

        for topic, expected, latest in (
            (self.settings["output"], counts, _latest_int),
            (self.settings["sums_output"], sums, _latest_json),
        ):
            got = read_topic(
                self.bootstrap,
                topic,
                lambda r, latest=latest, expected=expected: latest(after(r)) == expected,
                timeout=90,
            )
            assert latest(after(got)) == expected

    def group_offsets(self) -> dict[tuple[str, int], int]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        request = ConsumerGroupTopicPartitions(self.app_id)
        result = admin.list_consumer_group_offsets([request])[self.app_id].result(30)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []}

    def changelog(self, store: str = "counts") -> list[tuple[int, int, bytes, bytes | None]]:
        topic = f"{self.app_id}-{store}-changelog"
        records = read_all(self.bootstrap, topic)
        return sorted((r.partition(), r.offset(), r.key(), r.value()) for r in records)

    def marker(self):
        return read_marker(AppConfig.build(self.app_id, bootstrap_servers=self.bootstrap))


def _stop(instance) -> None:
    instance.terminate()
    assert instance.wait_exit(60) == 0, instance.log()[-3000:]


@pytest.fixture
def counts_app(bootstrap, make_topic, unique_name, instances, tmp_path):
    return CountsApp(bootstrap, make_topic, unique_name, instances, tmp_path)


def test_reset_to_a_savepoint_continues_exactly_from_it(counts_app):
    app = counts_app
    produce(app.bootstrap, app.settings["input"], _events(0, 600))
    first = app.start("a")
    app.wait_results(_counts(0, 600), _sums(0, 600))
    _stop(first)
    savepoint = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"))).strip()

    # The application runs on past the savepoint; its local state and changelogs move on.
    again = app.start("a-again", state_dir=first.state_dir)
    produce(app.bootstrap, app.settings["input"], _events(600, 1200))
    app.wait_results(_counts(0, 1200), _sums(0, 1200))
    refused = app.cli("reset", "--to-savepoint", savepoint)
    assert refused.returncode == 1
    assert "refusing to reset application" in refused.stderr
    assert "1 instance(s) are running" in refused.stderr, refused.stderr
    _stop(again)

    before = (app.group_offsets(), app.changelog())
    dry = ok(app.cli("reset", "--to-savepoint", savepoint, "--dry-run"))
    assert f"set the offset of {app.settings['input']}[0] to" in dry
    assert f"reseed {app.app_id}-counts-changelog[1] with store counts" in dry
    assert f"empty changelog topic {app.app_id}-sums-changelog" in dry
    assert (app.group_offsets(), app.changelog()) == before, "a dry run changed something"

    done = ok(app.cli("reset", "--to-savepoint", savepoint))
    assert "start the instances" in done
    assert app.marker().status == "complete"
    offsets = app.group_offsets()
    assert sum(offsets[(app.settings["input"], p)] for p in (0, 1)) == 600

    # One instance on the stale state directory (it must drop it), one on a fresh one.
    mark = app.mark()
    stale = app.start("stale", state_dir=first.state_dir)
    fresh = app.start("fresh")
    app.wait_results(_counts(0, 1200), _sums(0, 1200), since=mark)
    assert "local state predates reset" in stale.log()
    produce(app.bootstrap, app.settings["input"], _events(1200, 1500))
    app.wait_results(_counts(0, 1500), _sums(0, 1500))
    _stop(stale)
    _stop(fresh)


def _produce_timed(bootstrap: str, topic: str, start: int, stop: int) -> None:
    """Events whose Kafka timestamps are BASE_TS + i seconds."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for i, (key, value) in zip(range(start, stop), _events(start, stop), strict=True):
        producer.produce(topic, value, key, timestamp=BASE_TS + i * 1000)
    assert producer.flush(30) == 0


def test_reset_to_a_time_and_to_earliest_reprocess_with_empty_state(counts_app):
    app = counts_app
    _produce_timed(app.bootstrap, app.settings["input"], 0, 700)
    first = app.start("a")
    app.wait_results(_counts(0, 700), _sums(0, 700))
    _stop(first)

    # BASE_TS + 550 s: the state starts empty and only records from event 550 on count.
    ok(app.cli("reset", "--to-datetime", "2023-11-14T22:22:30+00:00"))
    mark = app.mark()
    second = app.start("b", state_dir=first.state_dir)
    app.wait_results(_counts(550, 700), _sums(550, 700), since=mark)
    _stop(second)

    ok(app.cli("reset", "--to-earliest"))
    mark = app.mark()
    third = app.start("c", state_dir=first.state_dir)
    app.wait_results(_counts(0, 700), _sums(0, 700), since=mark)
    _stop(third)


@pytest.mark.tansu_deviation(KEEPS_KILLED_MEMBERS)
def test_reset_waits_for_a_killed_instance_to_drop_out_of_the_group(counts_app):
    """A killed instance stays a group member until its session times out, answering no ping:
    the reset waits for the broker to drop it instead of refusing."""
    app = counts_app
    produce(app.bootstrap, app.settings["input"], _events(0, 300))
    first = app.start("a")
    app.wait_results(_counts(0, 300), _sums(0, 300))
    first.kill()
    first.wait_exit(30)

    done = ok(app.cli("reset", "--to-earliest"))
    assert "answer no ping" in done, done
    assert "start the instances" in done
    mark = app.mark()
    again = app.start("b", state_dir=first.state_dir)
    app.wait_results(_counts(0, 300), _sums(0, 300), since=mark)
    _stop(again)


def _copy_damaged(location: str, tmp_path: Path, how: str) -> str:
    target = tmp_path / f"damaged-{how}"
    shutil.copytree(location, target)
    manifest = target / "manifest.json"
    doc = json.loads(manifest.read_text())
    if how == "checksum":
        sst = next(target.glob("tasks/*/counts.sst"))
        data = bytearray(sst.read_bytes())
        data[len(data) // 2] ^= 0xFF
        sst.write_bytes(bytes(data))
    elif how == "missing-file":
        next(target.glob("tasks/*/sums.sst")).unlink()
    elif how == "other-application":
        doc["application_id"] = "another-app"
        manifest.write_text(json.dumps(doc))
    elif how == "unknown-version":
        doc["format_version"] = 2
        manifest.write_text(json.dumps(doc))
    elif how == "truncated-manifest":
        manifest.write_bytes(manifest.read_bytes()[:300])
    return str(target)


def test_bad_savepoints_and_an_interrupted_reset(counts_app):
    app = counts_app
    produce(app.bootstrap, app.settings["input"], _events(0, 500))
    first = app.start("a")
    app.wait_results(_counts(0, 500), _sums(0, 500))
    _stop(first)
    savepoint = ok(app.cli("savepoint", "create", "--dir", str(app.tmp_path / "sp"))).strip()
    produce(app.bootstrap, app.settings["input"], _events(500, 800))
    second = app.start("b", state_dir=first.state_dir)
    app.wait_results(_counts(0, 800), _sums(0, 800))
    _stop(second)

    # A bad savepoint is a clear error and changes nothing, on the broker or on disk.
    before = (app.group_offsets(), app.changelog(), app.changelog("sums"))
    for how, message in [
        ("checksum", "checksum mismatch"),
        ("missing-file", "sums.sst is missing"),
        ("other-application", "belongs to application 'another-app'"),
        ("unknown-version", "format version 2 is not supported"),
        ("truncated-manifest", "is not valid JSON (truncated or damaged?)"),
    ]:
        damaged = _copy_damaged(savepoint, app.tmp_path, how)
        files = sorted((p, p.read_bytes()) for p in Path(damaged).rglob("*") if p.is_file())
        result = app.cli("reset", "--to-savepoint", damaged)
        assert result.returncode == 1, result.stdout
        assert message in " ".join(result.stderr.split()), (how, result.stderr)
        assert sorted((p, p.read_bytes()) for p in Path(damaged).rglob("*") if p.is_file()) == (
            files
        )
    assert app.marker() is None
    assert (app.group_offsets(), app.changelog(), app.changelog("sums")) == before

    # Killed (SIGKILL) after the changelogs were emptied and before they were reseeded.
    env = {**app.env, "KSTREAMY_FAULT_RESET_KILL_AT": "recreate"}
    killed = kstreamy(env, "reset", "counts_app:build_app", "--to-savepoint", savepoint)
    assert killed.returncode == -9, killed.stderr
    assert app.marker().status == "in_progress"
    refused = app.start("refused", state_dir=first.state_dir)
    assert refused.wait_exit(60) == 1
    assert "did not complete (interrupted?); run the same `kstreamy reset`" in refused.log()

    ok(app.cli("reset", "--to-savepoint", savepoint))
    assert app.marker().status == "complete"
    mark = app.mark()
    again = app.start("again", state_dir=first.state_dir)
    app.wait_results(_counts(0, 800), _sums(0, 800), since=mark)
    _stop(again)
