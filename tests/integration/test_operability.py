"""Operating a running application: interactive queries, Prometheus metrics, ``kstreamy status``
and structured logs, checked over real HTTP against two real instance processes."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kstreamy.partitioner import partition_for
from kstreamy.query import Client
from kstreamy.testing.topics import create_topics, produce, read_all
from tests_support.instances import InstanceFactory, InstanceProcess
from tests_support.waiting import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
KEYS = [f"key-{i:03d}" for i in range(40)]
ROUNDS = 10
T0 = 1_700_000_040.0  # on a minute boundary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    def __init__(self, bootstrap: str, broker_kind: str, tmp: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.broker_kind = broker_kind
        self.input, self.output, self.sums = (
            f"{n}-{suffix}" for n in ("ops-in", "ops-out", "ops-sums")
        )
        create_topics(bootstrap, {t: PARTITIONS for t in (self.input, self.output, self.sums)})
        self.app_id = f"ops-{suffix}"
        self.factory = InstanceFactory(bootstrap, tmp)
        self.ports: list[tuple[int, int]] = []
        self.instances: list[InstanceProcess] = []
        for _ in range(2):
            query, metrics = free_port(), free_port()
            self.ports.append((query, metrics))
            settings = {"query_port": query, "metrics_port": metrics, "log_format": "json"}
            self.instances.append(
                self.factory.start(
                    "ops_app",
                    self.app_id,
                    input=self.input,
                    output=self.output,
                    sums_output=self.sums,
                    settings=settings,
                )
            )

    def query_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i][0]}"

    def metrics(self, i: int) -> dict[str, dict[tuple, float]]:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.ports[i][1]}/metrics", timeout=10
        ) as r:
            text = r.read().decode()
        samples: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = (
                    sample.value
                )
        return samples

    def status_args(self) -> list[str]:
        return [arg for i in self.instances for arg in ("--state-dir", str(i.state_dir))]

    def owner_of(self, key: str) -> int:
        partition = f"{self.input}[{partition_for(key.encode(), PARTITIONS)}]"
        return next(i for i, inst in enumerate(self.instances) if partition in inst.partitions())


@pytest.fixture(scope="module")
def deployment(broker, tmp_path_factory):
    d = Deployment(broker.bootstrap_servers, broker.kind, tmp_path_factory.mktemp("operability"))
    try:
        for instance in d.instances:
            instance.wait_running()
        # Event time: round r of every key falls in minute r // 5 after T0 (two per window).
        records = [
            (key.encode(), json.dumps({"n": r, "ts": T0 + 12 * r}).encode())
            for r in range(ROUNDS)
            for key in KEYS
        ]
        produce(d.bootstrap, d.input, [*records, (None, json.dumps({"n": 0, "ts": T0}).encode())])
        wait_until(
            lambda: all(len(i.partitions()) == PARTITIONS // 2 for i in d.instances),
            60,
            what="the partitions to be split between the two instances",
        )
        client = Client(d.query_url(0))
        wait_until(
            lambda: all(client.get("counts", k) == ROUNDS for k in KEYS),
            90,
            0.5,
            what="every count to be queryable",
        )
        yield d
    finally:
        d.factory.kill_all()


def test_any_instance_answers_for_every_key_by_redirecting_to_its_owner(deployment):
    d = deployment
    client = Client(d.query_url(0))
    assert {k: client.get("counts", k) for k in KEYS} == dict.fromkeys(KEYS, ROUNDS)
    assert {k: client.get("sums", k) for k in KEYS} == dict.fromkeys(KEYS, sum(range(ROUNDS)))
    remote = [k for k in KEYS if d.owner_of(k) == 1]
    assert remote and client.redirects_followed == 2 * len(remote)
    assert client.get("counts", "never-seen") is None

    # Over plain HTTP: the first instance names the owner of a key it does not hold.
    key = remote[0]
    with pytest.raises(urllib.error.HTTPError) as moved:
        urllib.request.build_opener(_NoRedirect).open(f"{d.query_url(0)}/stores/counts/keys/{key}")
    assert moved.value.code == 307
    assert moved.value.headers["Location"] == f"{d.query_url(1)}/stores/counts/keys/{key}"
    with urllib.request.urlopen(moved.value.headers["Location"], timeout=10) as answer:
        assert json.loads(answer.read())["value"] == ROUNDS

    # A range spans both instances; a client may also find them through the broker.
    by_topic = Client(bootstrap_servers=d.bootstrap, application_id=d.app_id)
    assert by_topic.range("counts") == [(k, ROUNDS) for k in KEYS]
    assert by_topic.range("counts", "key-010", "key-012") == [
        ("key-010", ROUNDS),
        ("key-011", ROUNDS),
        ("key-012", ROUNDS),
    ]


def test_key_lookups_use_the_partitions_the_producers_chose(deployment):
    # The records were partitioned by librdkafka's murmur2 partitioner; lookups hash in Python.
    records = read_all(deployment.bootstrap, deployment.input)
    keyed = [r for r in records if r.key() is not None]
    assert len(keyed) == len(KEYS) * ROUNDS
    assert all(r.partition() == partition_for(r.key(), PARTITIONS) for r in keyed)


def test_a_keys_windows_are_queried_on_whichever_instance_holds_them(deployment):
    client = Client(deployment.query_url(1))
    start = int(T0 * 1000)
    for key in KEYS:
        windows = client.windows("per-minute", key, start, start + 10 * 60_000)
        assert windows == [
            {"start": start + m * 60_000, "end": start + (m + 1) * 60_000, "value": 5}
            for m in range(ROUNDS // 5)
        ]
    assert client.redirects_followed > 0
    assert client.windows("per-minute", "key-001", start + 60_000, start + 60_000) == [
        {"start": start + 60_000, "end": start + 120_000, "value": 5}
    ]


def test_window_queries_on_a_key_value_store_say_so(deployment):
    url = f"{deployment.query_url(0)}/stores/counts/keys/key-001/windows?from=0&to=10"
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(url, timeout=10)
    assert answer.value.code == 404
    assert json.loads(answer.value.read())["error"] == "not_a_window_store"


def test_metrics_are_served_over_http(deployment):
    d = deployment
    scrapes = [d.metrics(0), d.metrics(1)]
    records_in = sum(v for s in scrapes for v in s["kstreamy_task_records_in_total"].values())
    records_out = sum(v for s in scrapes for v in s["kstreamy_task_records_out_total"].values())
    assert records_in == len(KEYS) * ROUNDS + 1  # the null-key record is read, then dropped
    assert records_out == 2 * len(KEYS) * ROUNDS  # a count and a sum per keyed record
    tasks = {dict(labels)["task"] for s in scrapes for labels in s["kstreamy_consumer_lag"]}
    assert tasks == {f"0_{p}" for p in range(PARTITIONS)}
    assert all(v == 0 for s in scrapes for v in s["kstreamy_consumer_lag"].values())
    for scrape in scrapes:
        assert scrape["kstreamy_commit_latency_seconds_count"][()] > 0
        assert scrape["kstreamy_commits_total"][()] > 0
        assert scrape["kstreamy_late_records_dropped_total"][()] == 0
        assert scrape["kstreamy_rebalances_total"][()] >= 1
        stores = {dict(labels)["store"] for labels in scrape["kstreamy_store_keys_estimate"]}
        assert stores == {"counts", "sums", "per-minute"}
    keys = sum(
        v
        for s in scrapes
        for labels, v in s["kstreamy_store_keys_estimate"].items()
        if dict(labels)["store"] == "counts"
    )
    assert len(KEYS) / 2 <= keys <= 2 * len(KEYS)  # an estimate


def test_status_shows_the_group_its_tasks_and_lag(deployment):
    d = deployment
    result = d.instances[0].cli("status", "--json", *d.status_args())
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["broker_error"] is None
    assert view["group"]["state"] == "STABLE"
    ids = {i.status()["instance_id"] for i in d.instances}
    all_tasks = {f"0_{p}" for p in range(PARTITIONS)}
    if d.broker_kind == "kafka":
        assert {m["instance_id"] for m in view["members"]} == ids
        assert {t for m in view["members"] for t in m["tasks"]} == all_tasks
    else:  # Tansu describes no members; the endpoints topic fills in
        assert view["members"] == []
        assert any("lists no members" in note for note in view["notes"])
    assert set(view["endpoints"]) == ids
    assert {t for r in view["endpoints"].values() for t in r["tasks"]} == all_tasks
    assert [(s["instance_id"] in ids, s["state"], s["error"]) for s in view["local"]] == [
        (True, "running", None)
    ] * 2
    lag = {(row["topic"], row["partition"]): row for row in view["lag"]}
    assert set(lag) == {(d.input, p) for p in range(PARTITIONS)}
    assert sum(row["committed"] for row in lag.values()) == len(KEYS) * ROUNDS + 1
    if d.broker_kind == "kafka":
        assert all(row["lag"] == 0 for row in lag.values())

    text = d.instances[0].cli("status", *d.status_args())
    assert text.returncode == 0, text.stderr
    for instance_id in ids:
        assert instance_id in text.stdout
    assert "lag          committed vs end offsets" in text.stdout
    assert f"{d.input}[0]" in text.stdout


def test_status_watch_refreshes_until_interrupted(deployment):
    instance = deployment.instances[0]
    command = [sys.executable, "-m", "kstreamy_cli", "status", f"{instance.module}:build_app"]
    process = subprocess.Popen(
        [*command, "--json", "--watch", "0.2", *deployment.status_args()],
        env=instance.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    try:
        seen = [lines.get(timeout=60) for _ in range(2)]
        assert [json.loads(line)["application_id"] for line in seen] == [deployment.app_id] * 2
        assert json.loads(seen[1])["at"] > json.loads(seen[0])["at"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0


def test_logs_are_json_lines_naming_instance_and_task(deployment):
    for instance in deployment.instances:
        instance_id = instance.status()["instance_id"]
        entries = [json.loads(line) for line in instance.log().splitlines() if line.startswith("{")]
        assert entries and all(e["instance_id"] == instance_id for e in entries)
        assert not [line for line in instance.log().splitlines() if " INFO kstreamy." in line]
        levels = Counter(e["level"] for e in entries)
        assert levels["INFO"] > 0
    # The null-key record was dropped with a warning from the task that read it.
    warnings = [
        json.loads(line)
        for i in deployment.instances
        for line in i.log().splitlines()
        if line.startswith("{") and "null key" in line
    ]
    assert warnings  # from each aggregation that dropped it
    assert {w["task_id"] for w in warnings} <= {f"0_{p}" for p in range(PARTITIONS)}
    assert len({w["task_id"] for w in warnings}) == 1


def test_status_shows_the_last_error(instances, make_topic, unique_name):
    source, out, sums = make_topic("in", 1), make_topic("out", 1), make_topic("sums", 1)
    instance = instances.start(
        "counts_app", unique_name("failing"), input=source, output=out, sums_output=sums
    )
    produce(instances.bootstrap, source, [(b"k", b"not json")])
    wait_until(lambda: not instance.alive(), 60, what="the instance to stop on the bad record")
    result = instance.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    (local,) = json.loads(result.stdout)["local"]
    assert local["state"] == "failed"
    assert "deserialization of value failed" in local["error"]
    assert f"topic={source} partition=0 offset=0" in local["error"]
    text = instance.cli("status")
    assert "error        RecordError: deserialization of value failed" in text.stdout


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
