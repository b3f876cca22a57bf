"""Records the consumer hands out a second time, which a task must not process again.

A task's ``positions`` say where its input stands since its last commit or rewind: every
record below them is in the open transaction already, or committed. The consumer should never
go back on its own, but librdkafka has gone back after pause/resume and cooperative rebalances
more than once (confluentinc/librdkafka#1802, #4637, #4686): fetching restarted from an older
offset with no error. Under exactly-once that is a duplicate nobody sees, so the loop checks the
first record of every run against the task's position and passes over what it has already
seen, loudly. Every deliberate way back (rewind after an abort, a rebuild, a savepoint hold)
clears or resets the positions first, so this never hides a replay that was asked for.
"""

from __future__ import annotations

import logging
from typing import Any

from kstreamy.runtime.task import Task

log = logging.getLogger("kstreamy.instance")


def skip_delivered_again(
    task: Task, messages: list[Any], start: int, topic: str, partition: int, position: int
) -> int:
    """Pass over the records of ``topic[partition]`` from ``start`` on that lie below
    ``position``; return the index of the first record that is not one of them."""
    end = start
    count = len(messages)
    while end < count:
        message = messages[end]
        if (
            message.partition() != partition
            or message.topic() != topic
            or message.error() is not None
            or message.offset() >= position
        ):
            break
        end += 1
    log.warning(
        "task %s: %s[%d] delivered offsets %d..%d again, below the task's position %d; "
        "passed over %d records it has already processed",
        task.id,
        topic,
        partition,
        messages[start].offset(),
        messages[end - 1].offset(),
        position,
        end - start,
    )
    return end
