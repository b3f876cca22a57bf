"""Is the application running? The consumer group's state, and who answers a ping.

Offline tools (an offline savepoint, reset) must not run while instances change offsets and
changelogs under them. The group state says whether anyone is a member; a ping on the control
topic says who (instance id, host, pid), which the group does not always tell (some brokers
report no member details), so the refusal can name them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException

from kstreamy.config import AppConfig
from kstreamy.kafka.clients import create_admin
from kstreamy.kafka.topics import control_topic, partition_counts
from kstreamy.runtime.control_topic import ControlChannel, new_request_id

IDLE_STATES = {"EMPTY", "DEAD"}


@dataclasses.dataclass
class Liveness:
    group_state: str
    members: list[str]
    instances: list[dict[str, Any]]

    @property
    def alive(self) -> bool:
        return bool(self.instances or self.members) or self.group_state not in IDLE_STATES

    def names(self) -> list[str]:
        if self.instances:
            return [
                f"{i.get('instance')} (host {i.get('host')}, pid {i.get('pid')}, "
                f"{len(i.get('tasks', []))} tasks)"
                for i in self.instances
            ]
        return list(self.members)

    def refusal(self, what: str, config: AppConfig) -> str:
        names = self.names()
        if names:
            who = f"{len(names)} instance(s) are running: " + "; ".join(names)
        else:
            who = (
                f"its consumer group is {self.group_state.lower()} with members (an instance "
                "killed without a clean stop stays a member until its session times out, "
                f"{config.session_timeout_ms / 1000:.0f} s)"
            )
        return (
            f"refusing to {what} application {config.application_id}: {who}. "
            "Stop them (SIGTERM) and run the command again"
        )


def group_state(config: AppConfig) -> tuple[str, list[str]]:
    """The group's state name and its members (``client_id@host``) as the broker reports."""
    admin = create_admin(config)
    partition_counts(admin)  # a clear error, and soon, if the cluster cannot be reached
    group = config.application_id
    try:
        found = admin.describe_consumer_groups([group], request_timeout=15)[group].result(30)
    except KafkaException:
        return "DEAD", []
    state = getattr(found.state, "name", str(found.state)).upper()
    members = [f"{m.client_id}@{m.host}" for m in (found.members or [])]
    return state, members


def check_liveness(config: AppConfig, ping_timeout: float = 3.0) -> Liveness:
    state, members = group_state(config)
    liveness = Liveness(state, members, [])
    if not liveness.alive:
        return liveness
    if control_topic(config.application_id) not in partition_counts(create_admin(config)):
        return liveness
    channel = ControlChannel(config)
    try:
        rid = new_request_id()
        offset = channel.send({"type": "ping", "id": rid})
        channel.seek(offset + 1)
        deadline = time.monotonic() + ping_timeout
        while time.monotonic() < deadline:
            for record in channel.poll(0.2):
                if record.get("type") == "pong" and record.get("id") == rid:
                    liveness.instances.append(record)
            if members and len(liveness.instances) >= len(members):
                break
    finally:
        channel.close()
    if state == "UNKNOWN" and not members and not liveness.instances:
        # The broker names no state it knows and no member, and no instance answered: a group
        # whose last members left while it rebalanced (the embedded broker reports it so, and
        # keeps it so); a reset deletes it.
        liveness.group_state = "EMPTY"
    return liveness


DEPARTURE_MARGIN_S = 5.0
"""Past the session timeout, how long the broker may take to notice an expired member."""


def await_departures(
    config: AppConfig, liveness: Liveness, notify: Callable[[str], None] = lambda _: None
) -> Liveness:
    """Members that no instance answers for are instances already gone: one stopped while it
    was still joining the group (its close cannot leave a group it had not finished joining)
    or one killed. The broker drops them once their session times out; a reset waits for that
    instead of refusing. A live instance keeps its membership, so the check after the wait
    refuses as before; only the answer comes later."""
    if not liveness.alive or liveness.instances:
        return liveness
    wait_s = config.session_timeout_ms / 1000 + DEPARTURE_MARGIN_S
    notify(
        f"{len(liveness.members) or 'some'} group member(s) answer no ping (instances stopped "
        f"or killed before they left the group): waiting up to {wait_s:.0f} s for the broker "
        "to drop them"
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        state, members = group_state(config)
        if not members and (state in IDLE_STATES or state == "UNKNOWN"):
            break
        time.sleep(1.0)
    return check_liveness(config)
