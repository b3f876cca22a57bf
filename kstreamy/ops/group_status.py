"""What an application looks like right now, from the broker and from this host's status files.

The broker knows the group: which members are live, which partitions (so which tasks) each
owns, and the committed offsets. Status files written by instances on this host add what only
an instance knows: restoration progress, watermarks, the last error. Instances with a query
port also publish their tasks to the endpoints topic, which fills in for brokers that do not
describe group members.

End offsets come from ListOffsets, which some brokers answer inexactly (the embedded Tansu
counts batches, not records), so lag is shown as the broker reports it and nothing here depends
on it being right.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kstreamy.config import AppConfig
from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import (
    StartupAdmin,
    admin_settings,
    common_settings,
    create_client,
    wait_for_cluster,
)
from kstreamy.kafka.topics import endpoints_topic
from kstreamy.query.endpoints import read_endpoints
from kstreamy.runtime.status_file import read_status, status_path
from kstreamy.runtime.task import task_id
from kstreamy.topic_plan import plan_topics
from kstreamy.topology import Topology

INEXACT_END = (
    "an end offset below the committed offset: this broker's ListOffsets is inexact "
    "(the embedded Tansu counts batches, not records); lag not shown there"
)
NO_MEMBERS = (
    "the broker describes the group as {state} but lists no members (the embedded Tansu does "
    "not report them); instances below come from the endpoints topic and local status files"
)


def local_statuses(app_state_dirs: list[Path]) -> list[dict[str, Any]]:
    """The status files of instances that ran on this host, with whether their process lives."""
    found = []
    for directory in app_state_dirs:
        status = read_status(status_path(directory))
        if status is None:
            continue
        alive = _alive(status.get("pid", 0))
        if status.get("state") in ("running", "starting") and not alive:
            status["state"] = f"{status['state']}, but process {status.get('pid')} is gone"
        found.append({**status, "state_dir": str(directory), "alive": alive})
    return found


def group_status(
    config: AppConfig, topology: Topology, app_state_dirs: list[Path], timeout: float = 5.0
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "application_id": config.application_id,
        "bootstrap_servers": config.bootstrap_servers,
        "at": time.time(),
        "group": None,
        "members": [],
        "endpoints": {},
        "lag": [],
        "local": local_statuses(app_state_dirs),
        "notes": [],
        "broker_error": None,
    }
    try:
        _from_broker(view, config, topology, timeout)
    except (KafkaException, KStreamyError) as exc:
        view["broker_error"] = f"no group view from {config.bootstrap_servers}: {exc}"
    return view


def _from_broker(
    view: dict[str, Any], config: AppConfig, topology: Topology, timeout: float
) -> None:
    settings = {**admin_settings(config), "socket.timeout.ms": int(timeout * 1000)}
    admin = create_client(lambda s: StartupAdmin(s, config), settings, "admin client")
    metadata = wait_for_cluster(admin, timeout).topics
    counts = {name: len(t.partitions) for name, t in metadata.items() if t.error is None}
    plan = plan_topics(topology, {t: counts.get(t, 0) for t in topology.external_source_topics()})
    sub_of_topic = {t: sub.id for sub in topology.subtopologies() for t in sub.source_topics}
    lead_sub = {topic: sub for sub, topic in plan.lead_topic.items()}

    group_id = config.application_id
    described = admin.describe_consumer_groups([group_id], request_timeout=timeout)[group_id]
    group = described.result()
    view["group"] = {"state": group.state.name, "assignor": group.partition_assignor}
    prefix, suffix = f"{group_id}-", "-consumer"
    for member in group.members:
        partitions = member.assignment.topic_partitions if member.assignment else []
        client_id = member.client_id or ""
        instance = client_id[len(prefix) : -len(suffix)] if client_id.endswith(suffix) else None
        view["members"].append(
            {
                "member_id": member.member_id,
                "client_id": client_id,
                "instance_id": instance,
                "host": member.host,
                "partitions": sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions),
                "tasks": sorted(
                    task_id(lead_sub[tp.topic], tp.partition)
                    for tp in partitions
                    if tp.topic in lead_sub
                ),
            }
        )
    if not view["members"] and group.state.name not in ("EMPTY", "DEAD", "UNKNOWN"):
        view["notes"].append(NO_MEMBERS.format(state=group.state.name))

    if endpoints_topic(group_id) in counts:
        view["endpoints"] = read_endpoints(
            config.bootstrap_servers, group_id, timeout, **common_settings(config)
        )

    offsets = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group_id)], request_timeout=timeout
    )[group_id].result()
    committed = {(tp.topic, tp.partition): tp.offset for tp in offsets.topic_partitions or []}
    inputs = [
        TopicPartition(topic, p)
        for topic in sorted(sub_of_topic)
        for p in range(counts.get(topic, 0))
    ]
    ends: dict[tuple[str, int], int] = {}
    if inputs:
        futures = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in inputs}, request_timeout=timeout
        )
        for tp, future in futures.items():
            try:
                ends[(tp.topic, tp.partition)] = future.result().offset
            except KafkaException:
                continue
    inexact = False
    for tp in inputs:
        key = (tp.topic, tp.partition)
        done, end = committed.get(key), ends.get(key)
        done = done if done is not None and done >= 0 else None
        lag = None
        if end is not None and end >= 0:
            if done is None:
                lag = end
            elif end >= done:
                lag = end - done
            else:
                inexact = True
        view["lag"].append(
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "task": task_id(sub_of_topic[tp.topic], tp.partition),
                "committed": done,
                "end": end,
                "lag": lag,
            }
        )
    if inexact:
        view["notes"].append(INEXACT_END)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
