"""What the demo acts on: a broker, instance processes, the ``kstreamy`` command, the topics.

Everything goes through what a user has: instances are ``kstreamy run`` processes, savepoints
and resets are ``kstreamy`` commands (each printed before it runs), input is produced and output
read with confluent-kafka. Each scenario gets a namespace of its own (topics, application id,
state directories), so scenarios neither share nor wait for each other's state.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import logging_settings
from kstreamy.testing.growth import grow_topic
from kstreamy.testing.topics import create_topics
from kstreamy_cli.demo import app as demo_app
from kstreamy_cli.demo.data import Reading, WindowKey
from kstreamy_cli.demo.report import Narrator

APP_SPEC = "kstreamy_cli.demo.app:build_app"


class DemoFailure(KStreamyError):
    """A scenario could not go on (an instance died, output never came)."""


class Instance:
    """One ``kstreamy run`` process with a state directory of its own, as on its own machine."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path, state: Path):
        self.name = name
        self.process = process
        self.log = log
        self.state_dir = state
        self.meant_to_run = True  # false once the demo stops or kills it on purpose

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Scenario:
    """One scenario's namespace: topics, application id, instances and commands."""

    def __init__(self, world: World, step: int, say: Narrator) -> None:
        self.world = world
        self.say = say
        self.namespace = f"-{step}-{uuid.uuid4().hex[:6]}"
        self.topics = demo_app.topics(self.namespace)
        self.app_id = demo_app.application_id(self.namespace)
        self.instances: list[Instance] = []
        self.dir = world.workdir / f"step{step}"
        self.dir.mkdir(parents=True, exist_ok=True)

    def env(self, version: str = "v1", clock: str = "event") -> dict[str, str]:
        # The failover scenario kills an instance, whose tasks move once its session times
        # out: Kafka's 45 s default outlasts a broker failover, but a demo on one machine can
        # be quicker (the embedded broker gets its own short timeouts anyway).
        group = {} if self.world.embedded else {"KSTREAMY_SESSION_TIMEOUT_MS": "10000"}
        return {
            **group,
            **os.environ,
            "KSTREAMY_BOOTSTRAP_SERVERS": self.world.bootstrap,
            "KSTREAMY_DEMO_NAMESPACE": self.namespace,
            "KSTREAMY_DEMO_VERSION": version,
            "KSTREAMY_DEMO_CLOCK": clock,
            "KSTREAMY_LOG_LEVEL": os.environ.get("KSTREAMY_DEMO_LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
        }

    def create_topics(self, readings_partitions: int, clocks: tuple[str, ...] = ("event",)) -> None:
        outputs = {demo_app.topics(self.namespace, c)["minutes"]: 4 for c in clocks}
        create_topics(
            self.world.bootstrap,
            {self.topics["readings"]: readings_partitions, **outputs},
            settings=self.world.settings,
        )

    def start(self, count: int, version: str = "v1", clock: str = "event") -> list[Instance]:
        started = []
        for _ in range(count):
            name = f"{'arrival-' if clock == 'arrival' else ''}i{len(self.instances) + 1}"
            state = self.dir / f"state-{name}"
            log = self.dir / f"{name}.log"
            command = [sys.executable, "-m", "kstreamy_cli", "run", APP_SPEC]
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    [*command, "--state-dir", str(state)],
                    env=self.env(version, clock),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            instance = Instance(name, process, log, state)
            self.instances.append(instance)
            started.append(instance)
        pids = ", ".join(str(i.process.pid) for i in started)
        self.say.command(
            f"kstreamy run {APP_SPEC} --state-dir …   # {count} x {version}, pid {pids}"
        )
        return started

    def running(self) -> list[Instance]:
        return [i for i in self.instances if i.meant_to_run]

    def check_alive(self) -> None:
        """Fail fast when an instance that should be running has exited."""
        for instance in self.running():
            if not instance.alive():
                raise DemoFailure(f"instance {instance.name} exited:\n{instance.tail()}")

    def stop(self, instances: list[Instance] | None = None, timeout: float = 30.0) -> None:
        """SIGTERM: a graceful stop (commit, close), then wait for the processes to exit."""
        targets = instances if instances is not None else self.running()
        for instance in targets:
            instance.meant_to_run = False
            with contextlib.suppress(ProcessLookupError):
                instance.process.send_signal(signal.SIGTERM)
        for instance in targets:
            try:
                instance.process.wait(timeout)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                raise DemoFailure(
                    f"instance {instance.name} did not stop within {timeout}s"
                ) from None

    def kill(self, instance: Instance) -> None:
        instance.meant_to_run = False
        instance.process.send_signal(signal.SIGKILL)
        instance.process.wait(10)

    def wait_exited(self, instances: list[Instance], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for instance in instances:
            instance.meant_to_run = False
            try:
                instance.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise DemoFailure(
                    f"instance {instance.name} did not exit within {timeout}s"
                ) from None

    def kstreamy(self, *args: str, version: str = "v1", show: bool = True) -> str:
        """Run ``kstreamy ARGS`` as a user would; its stdout, or an error with its output."""
        if show:
            self.say.command("kstreamy " + " ".join(args))
        done = subprocess.run(
            [sys.executable, "-m", "kstreamy_cli", *args],
            env=self.env(version),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            raise DemoFailure(
                f"kstreamy {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return done.stdout

    def savepoint(self, *, stop: bool) -> str:
        """``kstreamy savepoint create``; the savepoint's path."""
        args = ["savepoint", "create", APP_SPEC, "--dir", str(self.dir / "savepoints")]
        stdout = self.kstreamy(*args, *(["--stop"] if stop else []))
        path = stdout.strip().splitlines()[-1]
        self.say.note(f"savepoint: {path}")
        return path

    def reset_to(self, savepoint: str, version: str = "v1") -> None:
        self.kstreamy("reset", APP_SPEC, "--to-savepoint", savepoint, version=version)

    def owners(self) -> dict[str, list[str]]:
        """The tasks each running instance owns, from ``kstreamy status --json`` (the status
        files of the instances on this host)."""
        args = ["status", APP_SPEC, "--json"]
        for instance in self.instances:
            args += ["--state-dir", str(instance.state_dir)]
        status = json.loads(self.kstreamy(*args, show=False))
        alive = {i.process.pid: i.name for i in self.instances if i.alive()}
        return {
            alive[local["pid"]]: sorted(local["tasks"])
            for local in status["local"]
            if local.get("pid") in alive and local.get("state") == "running"
        }

    def wait_owners(
        self, done: Callable[[dict[str, list[str]]], bool], timeout: float
    ) -> dict[str, list[str]]:
        """Poll :meth:`owners` until ``done`` holds or ``timeout`` passes; the last answer.

        Ownership follows the group, not the output: a killed instance's tasks move once the
        broker notices it is gone (the session timeout), which may be after every result it
        had already written is visible."""
        deadline = time.monotonic() + timeout
        owners = self.owners()
        while not done(owners) and time.monotonic() < deadline:
            self.check_alive()
            time.sleep(0.5)
            owners = self.owners()
        return owners

    def grow(self, topic: str, partitions: int) -> None:
        self.say.command(f"kafka-topics.sh --alter --topic {topic} --partitions {partitions}")
        if (
            grow_topic(self.world.bootstrap, topic, partitions, settings=self.world.settings)
            == "rebuilt"
        ):
            self.say.note(
                "the embedded broker cannot add partitions (no CreatePartitions), so the topic "
                "was rebuilt with every record at its old partition and offset"
            )

    def produce(self, batch: list[Reading]) -> dict[int, int]:
        """Produce readings in arrival order, each stamped with its arrival time; the last
        offset per partition (to tell when the application has read everything)."""
        return self.world.produce(self.topics["readings"], batch)

    def wait_committed(self, last: dict[int, int], timeout: float = 60.0) -> None:
        """Wait until the group has committed everything produced: no transaction is open.
        One reader asks again and again (it never joins the group, only reads its offsets)."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.world.bootstrap,
                "group.id": self.app_id,
                **logging_settings(),
                **self.world.settings,
            }
        )
        wanted = [TopicPartition(self.topics["readings"], p) for p in last]

        def all_committed() -> bool:
            committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10)}
            return all(committed.get(p, -1) >= offset + 1 for p, offset in last.items())

        try:
            self.world.wait(
                all_committed, timeout, "the application to commit every reading", self.check_alive
            )
        finally:
            consumer.close()

    def output(self, clock: str = "event") -> OutputReader:
        return OutputReader(self.world, demo_app.topics(self.namespace, clock)["minutes"])

    def cleanup(self) -> None:
        for instance in self.instances:
            if instance.alive():
                instance.process.kill()
                instance.process.wait(10)


class OutputReader:
    """Reads the results topic from the beginning, committed transactions only."""

    def __init__(self, world: World, topic: str) -> None:
        self.world = world
        self.records: list[tuple[WindowKey, dict[str, Any]]] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": world.bootstrap,
                "group.id": f"kstreamy-demo-reader-{uuid.uuid4().hex[:6]}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **logging_settings(),
                **world.settings,
            }
        )
        metadata = self._consumer.list_topics(topic, timeout=10).topics[topic]
        self._consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])

    def poll(self) -> None:
        for message in self._consumer.consume(1000, 0.1):
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise DemoFailure(f"reading results: {message.error()}")
                continue
            key = orjson.loads(message.key())
            self.records.append(((key["key"], round(key["start"])), orjson.loads(message.value())))

    def read_until(
        self, count: int, timeout: float, what: str, check: Callable[[], None] | None = None
    ) -> list[tuple[WindowKey, dict[str, Any]]]:
        """Read until ``count`` results in all, failing after ``timeout`` seconds."""

        def enough() -> bool:
            self.poll()
            return len(self.records) >= count

        self.world.wait(
            enough, timeout, lambda: f"{what} ({len(self.records)} of {count} results)", check
        )
        return list(self.records)

    def close(self) -> None:
        self._consumer.close()


class World:
    """The broker and the demo's scratch directory, shared by every scenario (thread-safe:
    scenarios may run side by side)."""

    def __init__(self, bootstrap: str, workdir: Path, embedded: bool) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.embedded = embedded
        self.settings: dict[str, Any] = {} if embedded else AppConfig.build("demo").kafka_config
        """librdkafka properties for the demo's own clients: on a cluster of the user's, its
        security settings from the environment, as the instances and commands get them."""

    def scenario(self, step: int, say: Narrator) -> Scenario:
        return Scenario(self, step, say)

    def produce(self, topic: str, batch: list[Reading]) -> dict[int, int]:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "partitioner": "murmur2_random",  # as Kafka's Java clients and kstreamy
                "linger.ms": 5,
                **logging_settings(),
                **self.settings,
            }
        )
        last: dict[int, int] = {}
        failures: list[str] = []

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

        for r in batch:
            producer.produce(
                topic,
                orjson.dumps(r.value()),
                r.sensor.encode(),
                timestamp=round(r.arrival * 1000),
                on_delivery=delivered,
            )
            producer.poll(0)
        producer.flush(30)
        if failures or (batch and not last):
            raise DemoFailure(f"producing to {topic} failed: {failures[:3]}")
        return last

    def wait(
        self,
        condition: Callable[[], bool],
        timeout: float,
        what: str | Callable[[], str],
        check: Callable[[], None] | None = None,
    ) -> None:
        """Poll ``condition`` until true; fail after ``timeout`` or when ``check`` raises."""
        deadline = time.monotonic() + timeout
        while not condition():
            if check is not None:
                check()
            if time.monotonic() > deadline:
                text = what() if callable(what) else what
                raise DemoFailure(f"timed out after {timeout:.0f}s waiting for {text}")
            time.sleep(0.05)
