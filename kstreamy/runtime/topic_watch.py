"""Notices a topic deleted, re-created or re-partitioned under a running instance.

The instance plans its tasks from the partition counts it sees at start. A topic deleted while it
runs, or re-created with another partition count, breaks that plan without any client saying
so clearly: the consumer keeps its old partitions (librdkafka refreshes metadata every five
minutes), records in new partitions are never read, and a commit or a send fails later with
"Unknown topic or partition" and no topic name. So the loop asks the cluster about its topics
every ``TOPIC_CHECK_INTERVAL_S`` (an asynchronous describe: the loop never waits for it) and
stops the instance with a :class:`TopicChangedError` naming the topic, what changed and what to
do. The same check runs at once, waiting a bounded time, when a client error says a topic or
partition is unknown, so that error can be named too.

What counts as a change: for input, changelog and repartition topics, a deletion, another
partition count or another topic id (deleted and re-created); for output topics, a deletion
only (their partition count is the user's to change; the producer follows it). A broker that
does not answer is not a change: the check tries again later. A finding is confirmed by a
second look before the instance stops, so a metadata answer caught mid-update stops nothing.
Kafka Streams stops the same way on missing source topics (``MissingSourceTopicException``)
and refuses changelog topics whose partition count no longer matches.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from kstreamy.errors import KStreamyError
from kstreamy.topic_plan import TopicPlan
from kstreamy.topology import Topology

log = logging.getLogger("kstreamy.topics")

TOPIC_CHECK_INTERVAL_S = 5.0
"""How often the loop asks about its topics; one small metadata request per check."""
EXPLAIN_TIMEOUT_S = 5.0
"""How long a client error waits for the check that names its topic."""


class TopicChangedError(KStreamyError):
    """A topic the instance reads or writes was deleted, re-created or re-partitioned while it
    ran: its tasks no longer match the topics, so it stops rather than lose records."""


@dataclasses.dataclass(frozen=True)
class WatchedTopic:
    name: str
    role: str
    """"input", "output", "changelog" or "repartition"."""
    partitions: int | None
    """The count the tasks were planned with; None: any count (output topics)."""


def watched_topics(topology: Topology, plan: TopicPlan, outputs: list[str]) -> list[WatchedTopic]:
    """Every topic the instance depends on, with the partition count its tasks assume."""
    internal = topology.internal_topics()
    watched: dict[str, WatchedTopic] = {}
    for sub in topology.subtopologies():
        for topic in sub.source_topics:
            if topic not in internal:
                watched[topic] = WatchedTopic(topic, "input", plan.partitions[sub.id])
    for topic, (partitions, _) in plan.internal.items():
        watched[topic] = WatchedTopic(topic, internal.get(topic, "changelog"), partitions)
    for topic in outputs:
        watched.setdefault(topic, WatchedTopic(topic, "output", None))
    return sorted(watched.values(), key=lambda w: w.name)


class TopicWatch:
    """Compares the cluster's view of the watched topics with the plan, without blocking."""

    def __init__(self, admin: AdminClient | None, topics: list[WatchedTopic]) -> None:
        self._admin = admin
        self._topics = {t.name: t for t in topics}
        self._ids: dict[str, str] = {}
        """Topic ids seen at start: a new id means deleted and re-created."""
        self._pending: dict[str, Future[Any]] | None = None
        self._suspect: str | None = None
        self._next_check = time.monotonic() + TOPIC_CHECK_INTERVAL_S
        if self._topics:
            self._ids = self._current_ids()

    def _current_ids(self) -> dict[str, str]:
        """Ids of the topics now, asked once at start (the plan was made moments ago); a topic
        the cluster does not answer about gets the id of the first answer that names it."""
        ids = {}
        for name, future in self._describe().items():
            try:
                ids[name] = str(future.result(timeout=EXPLAIN_TIMEOUT_S).topic_id)
            except (KafkaException, TimeoutError):  # no id now: the first check takes it
                continue
        return ids

    def tick(self, now: float) -> None:
        """Called every round: collect an answer that has come, or ask again when due.

        Raises :class:`TopicChangedError` once a change has been seen twice in a row."""
        pending = self._pending
        if pending is not None:
            if not all(f.done() for f in pending.values()):
                return
            self._pending = None
            finding = self._finding(pending)
            if finding is None:
                self._suspect = None
            elif finding == self._suspect:
                raise TopicChangedError(finding)
            else:
                self._suspect = finding
                self._next_check = now  # confirm at once
                return
        if now >= self._next_check and self._topics:
            self._next_check = now + TOPIC_CHECK_INTERVAL_S
            self._pending = self._describe()

    def explain(self, error: BaseException) -> TopicChangedError | None:
        """For a client error that says a topic or partition is unknown: the change behind it,
        if the cluster shows one (asked at once, waiting at most ``EXPLAIN_TIMEOUT_S``)."""
        if not _about_unknown_topic(error) or not self._topics:
            return None
        deadline = time.monotonic() + EXPLAIN_TIMEOUT_S
        futures = self._describe()
        for future in futures.values():
            try:
                future.exception(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:  # no answer in time: nothing to explain with
                return None
        finding = self._finding(futures)
        return None if finding is None else TopicChangedError(finding)

    def _describe(self) -> dict[str, Future[Any]]:
        assert self._admin is not None  # only asked with topics to watch, which come with one
        collection = TopicCollection(list(self._topics))
        return self._admin.describe_topics(collection, request_timeout=EXPLAIN_TIMEOUT_S)

    def _finding(self, answers: dict[str, Future[Any]]) -> str | None:
        """What changed, in words, or None (also when the cluster did not answer)."""
        for name, future in sorted(answers.items()):
            watched = self._topics[name]
            error = future.exception()
            if error is not None:
                if _is_unknown_topic(error):
                    return _deleted(watched)
                return None  # no answer about this topic now: ask again later
            description = future.result()
            count = len(description.partitions)
            if watched.partitions is not None and count != watched.partitions:
                return _repartitioned(watched, count)
            topic_id = str(description.topic_id)
            known = self._ids.setdefault(name, topic_id)
            if known != topic_id and watched.role != "output":
                return _recreated(watched)
        return None


def _is_unknown_topic(error: BaseException) -> bool:
    if isinstance(error, KafkaException) and error.args:
        error = error.args[0]
    return isinstance(error, KafkaError) and error.code() in (
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
    )


def _about_unknown_topic(error: BaseException) -> bool:
    """Whether an error from a client (or kstreamy's wrapping of one) is about an unknown topic
    or partition; wrapped errors carry only the client's words."""
    if _is_unknown_topic(error):
        return True
    cause = error.__cause__
    if cause is not None and _is_unknown_topic(cause):
        return True
    text = str(error)
    return "Unknown topic or partition" in text or "Unknown partition" in text


def _deleted(watched: WatchedTopic) -> str:
    what = {
        "input": "Re-create it with the partitions it had"
        + (f" ({watched.partitions})" if watched.partitions else "")
        + " and start the instances again; records written to it before the deletion are gone",
        "output": "Re-create it and start the instances again; records not yet committed are "
        "read again and written to it",
        "changelog": "The state it holds can no longer be restored. Stop every instance and "
        "rebuild the state with `kstreamy reset --to-earliest` or `--to-savepoint`",
        "repartition": "Records not yet read from it are gone. Stop every instance and process "
        "the input again with `kstreamy reset --to-earliest` or `--to-savepoint`",
    }[watched.role]
    return f"{watched.role} topic {watched.name} was deleted while the instance ran. {what}."


def _repartitioned(watched: WatchedTopic, count: int) -> str:
    return (
        f"{watched.role} topic {watched.name} now has {count} partitions; the instance's tasks "
        f"were planned for {watched.partitions}, so records in the other partitions would be "
        "missed or go to the wrong task. To change an input topic's partition count, stop the "
        "instances with a savepoint (`kstreamy savepoint create --stop`), change the topic, and "
        "rescale with `kstreamy reset --to-savepoint` (see Rescaling in the README)."
    )


def _recreated(watched: WatchedTopic) -> str:
    return (
        f"{watched.role} topic {watched.name} was deleted and re-created while the instance ran "
        "(its topic id changed); the committed offsets and the state built from it no longer "
        "match it. Stop every instance and run `kstreamy reset --to-earliest` or `--to-savepoint`."
    )
