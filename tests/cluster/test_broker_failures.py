"""Broker failures on a 3-broker Apache Kafka cluster under exactly-once.

Needs a cluster of three brokers (replication factor 3, ``min.insync.replicas=2``) and commands
that kill and start one of them; without them every test here is skipped:

- ``KSTREAMY_CLUSTER_BOOTSTRAP``: the cluster's bootstrap servers, e.g. ``host1:9092,host2:9092``;
- ``KSTREAMY_CLUSTER_KILL_CMD``: a shell command that SIGKILLs broker ``{node}`` (its node.id,
  e.g. ``ssh {node}.kafka sudo pkill -9 -f kafka.Kafka``);
- ``KSTREAMY_CLUSTER_START_CMD``: a shell command that starts broker ``{node}`` again and returns
  once it accepts connections;
- ``KSTREAMY_CLUSTER_STOP_CMD`` (optional): how the rolling restart stops a broker; the kill
  command when unset;
- ``KSTREAMY_CLUSTER_REPORT`` (optional): a file each measured pause is appended to;
- ``KSTREAMY_CLUSTER_CLIENT_DEBUG`` (optional): librdkafka debug contexts for the instances'
  clients (e.g. ``eos,metadata``), written to the instance logs.

Two pipelines run as two instance processes each, exactly-once, on topics with replication
factor 3: a count per user after a repartition (every update written out) and 10 s tumbling
windows per region after a repartition, emitted once when final. Input flows at a steady rate
while a broker is killed: the leader of most input and changelog partitions; the group
coordinator and then the transaction coordinator of an instance; and every broker in turn (a
rolling restart, waiting until each is back in every ISR before the next). Each time:

- no instance exits;
- the output read with read_committed equals the offline expectation exactly (every count
  update once and in order; every window once with its exact value);
- the pause is measured: seconds from the kill to the first output that needs input sent after
  the kill becoming visible to a read_committed reader. It is printed, recorded with
  ``record_property`` and listed at the end of the run.

Instances use the library's default group timeouts, as a deployment would: the shorter ones of
the other integration tests are below the ~10 s a cluster takes to fence a dead broker.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections import Counter

import pytest

from kstreamy.config import AppConfig
from tests_support.cluster import Cluster
from tests_support.cluster_flow import (
    PIPELINES,
    Feeder,
    FlowPipeline,
    OutputWatcher,
    read_committed_all,
)
from tests_support.instances import InstanceFactory, InstanceProcess
from tests_support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

PARTITIONS = 4
EXACTLY_ONCE = {"processing_guarantee": "exactly_once", "commit_interval_ms": 100}
DEFAULT_GROUP_TIMEOUTS = {
    name: AppConfig.__dataclass_fields__[name].default
    for name in ("session_timeout_ms", "max_poll_interval_ms", "heartbeat_interval_ms")
}
"""The library's defaults, over the short ones tests/apps give for fast tests on one broker."""
RESUME_TIMEOUT_S = 90.0
"""How long output may stay paused after a kill before the test fails."""


def _client_debug() -> dict:
    """``KSTREAMY_CLUSTER_CLIENT_DEBUG=eos,metadata``: librdkafka debug contexts for the
    instances' clients, logged at DEBUG into the instance logs (to see where a pause goes)."""
    contexts = os.environ.get("KSTREAMY_CLUSTER_CLIENT_DEBUG")
    return {"kafka_config": {"debug": contexts}} if contexts else {}


@dataclasses.dataclass
class Mark:
    """A moment in the run: when, and how many inputs had been handed to the producer."""

    at: float
    boundary: int


class Run:
    """One pipeline on the cluster: its topics, two instances, the feeder and the watcher."""

    def __init__(
        self,
        flow: FlowPipeline,
        cluster: Cluster,
        make_topic,
        unique_name,
        instances: InstanceFactory,
    ) -> None:
        self.flow, self.cluster = flow, cluster
        self.input = make_topic("in", PARTITIONS)
        self.output = make_topic("out", PARTITIONS)
        self.app_id = unique_name(flow.name)
        self.group = [
            instances.start(
                flow.app_module,
                self.app_id,
                name=name,
                input=self.input,
                output=self.output,
                guarantee=EXACTLY_ONCE,
                settings={**DEFAULT_GROUP_TIMEOUTS, "instance_id": name, **_client_debug()},
                extra_env={"KSTREAMY_LOG_LEVEL": "DEBUG"} if _client_debug() else None,
                **flow.app_params,
            )
            for name in ("a", "b")
        ]
        self.feeder = Feeder(cluster.bootstrap, self.input, flow.make, flow.rate)
        self.watcher = OutputWatcher(cluster.bootstrap, self.output)

    def transactional_id(self, instance: InstanceProcess) -> str:
        return f"{self.app_id}-{instance.name}"  # <application_id>-<instance_id>

    def internal_topics(self, suffix: str) -> list[str]:
        topics = self.cluster.metadata().topics
        return sorted(t for t in topics if t.startswith(f"{self.app_id}-") and t.endswith(suffix))

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Both instances own tasks, every topic has 3 replicas, and output is flowing."""
        wait_until(
            lambda: self.assert_alive() or all(i.partitions() for i in self.group),
            120,
            what="both instances to own tasks",
        )
        topics = [self.input, self.output, *self.internal_topics("-changelog")]
        topics += self.internal_topics("-repartition")
        assert len(topics) >= 4, topics
        factors = self.cluster.replication_factors(topics)
        assert all(f == {3} for f in factors.values()), factors
        self.watcher.start()
        self.feeder.start()
        # Mid-stream: output of the first few seconds of input is out before any fault.
        self.wait_new_output(Mark(time.monotonic(), int(self.flow.rate * 5)), 120)

    def mark(self) -> Mark:
        return Mark(time.monotonic(), self.feeder.sent)

    def kill(self, node: int, stop=None) -> Mark:
        """Kill (or stop) broker ``node`` mid-stream; the mark is taken just before."""
        boundary = self.feeder.sent
        at = (stop or self.cluster.kill)(node)
        return Mark(at, boundary)

    def wait_new_output(self, mark: Mark, timeout: float = RESUME_TIMEOUT_S) -> float:
        """Seconds from ``mark`` until an output needing input sent after it became visible."""

        def resumed() -> float:
            self.assert_alive()
            return self.watcher.first_new(mark.at, mark.boundary, self.flow.needs)

        seen = wait_until(resumed, timeout, interval=0.05, what="new output after the fault")
        return seen - mark.at

    def wait_flowing(self) -> None:
        self.wait_new_output(self.mark(), 120)

    def restart(self, node: int) -> float:
        """Start broker ``node`` again, wait until the cluster is healthy and output flows;
        returns the longest time without output while that happened."""
        started = time.monotonic()
        self.cluster.start(node)
        self.cluster.wait_healthy(120)
        self.wait_flowing()
        return self.watcher.longest_gap(started, time.monotonic())

    def assert_alive(self) -> None:
        for instance in self.group:
            assert instance.alive(), f"instance {instance.name} exited:\n{instance.log()[-4000:]}"

    def finish_and_check(self) -> None:
        """Stop the input, let every result out, stop the instances cleanly, then compare
        everything read with read_committed to the offline expectation."""
        total = self.feeder.stop()
        self.flow.finish(self.cluster.bootstrap, self.input)
        wait_until(
            lambda: self.assert_alive() or self.flow.complete(self.watcher.snapshot(), total),
            120,
            what=f"every result of {total} inputs",
        )
        self.watcher.stop()
        for instance in self.group:
            instance.terminate()
        for instance in self.group:
            code = instance.wait_exit(60)
            assert code == 0, f"{instance.name} exited with {code}:\n{instance.log()[-4000:]}"
        records = read_committed_all(self.cluster.bootstrap, self.output)
        problems = self.flow.problems(records, total)
        assert not problems, f"{len(problems)} differences, e.g. {problems[:10]}"

    def log_summary(self) -> str:
        """Warnings and errors of the instances, counted by kind (for the report)."""
        kinds: Counter[str] = Counter()
        for instance in self.group:
            for line in instance.log().splitlines():
                match = re.search(r" (WARNING|ERROR) (\S+) \[[^\]]*\]: (\S+)", line)
                if match:
                    kinds[" ".join(match.groups())] += 1
        return "; ".join(f"{n}x {kind}" for kind, n in kinds.most_common(6))


@pytest.fixture(params=list(PIPELINES))
def run(request, cluster, make_topic, unique_name, instances):
    started = Run(PIPELINES[request.param], cluster, make_topic, unique_name, instances)
    try:
        yield started
    finally:
        started.feeder.halt()
        started.watcher.stop()
        print(f"instance log summary: {started.log_summary() or 'no warnings'}")
        cluster.recover()  # a failed test leaves no broker down for the next one


@pytest.mark.timeout(300)
def test_killing_the_leader_of_input_and_changelogs(run: Run, cluster: Cluster, pause_report):
    run.start()
    node, led = cluster.busiest_leader([run.input, *run.internal_topics("-changelog")])
    mark = run.kill(node)
    pause = run.wait_new_output(mark)
    gap = run.restart(node)
    pause_report("leader-killed", pause, node=node, restart_gap_s=f"{gap:.2f}", led=",".join(led))
    run.finish_and_check()


@pytest.mark.timeout(300)
def test_killing_the_group_then_the_transaction_coordinator(
    run: Run, cluster: Cluster, pause_report
):
    run.start()
    node = cluster.group_coordinator(run.app_id)
    mark = run.kill(node)
    pause = run.wait_new_output(mark)
    gap = run.restart(node)
    pause_report("group-coordinator-killed", pause, node=node, restart_gap_s=f"{gap:.2f}")

    transactional_id = run.transactional_id(run.group[0])
    node, partition = cluster.transaction_coordinator(transactional_id)
    mark = run.kill(node)
    pause = run.wait_new_output(mark)
    gap = run.restart(node)
    pause_report(
        "transaction-coordinator-killed",
        pause,
        node=node,
        restart_gap_s=f"{gap:.2f}",
        txn_partition=partition,
    )
    run.finish_and_check()


@pytest.mark.timeout(420)
def test_rolling_restart_of_every_broker(run: Run, cluster: Cluster, pause_report):
    run.start()
    for node in cluster.nodes:
        mark = run.kill(node, stop=cluster.stop)
        cluster.start(node)
        cluster.wait_healthy(120)
        pause = run.wait_new_output(mark)
        run.wait_flowing()
        gap = run.watcher.longest_gap(mark.at, time.monotonic())
        pause_report(f"rolling-restart-node-{node}", pause, node=node, longest_gap_s=f"{gap:.2f}")
    run.finish_and_check()
