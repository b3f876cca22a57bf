"""What happens to an input record that cannot be deserialized or processed.

Three policies, chosen separately for deserialization and processing errors:

- ``fail``: stop with a :class:`RecordError` naming topic, partition, offset and cause. The record's
  offset is not committed, so a restart retries it.
- ``skip``: log a warning with the same location and count it in ``records_skipped``.
- ``dead_letter``: send the raw key, value and headers to the dead-letter topic with error headers
  (``kstreamy.error.*``), count it, and continue. Nothing is lost: the bytes are kept as read.
"""

from __future__ import annotations

import logging
import time
import traceback

from kstreamy.config import ErrorPolicy
from kstreamy.errors import RecordError
from kstreamy.runtime.context import RecordContext
from kstreamy.runtime.emitter import Emitter
from kstreamy.runtime.metrics import Metrics

log = logging.getLogger("kstreamy.errors")

HEADER_PREFIX = "kstreamy.error."


def policy_hint(stage: str) -> str:
    """How to get past a record that stops the instance: without it, every restart stops again
    at the same record."""
    setting = f"on_{stage}_error"
    return (
        f"A restart retries this record; to get past records like it, set {setting} to "
        f"'skip' or 'dead_letter' (in App(...), with `kstreamy run ... --set "
        f"{setting}=dead_letter`, or KSTREAMY_{setting.upper()}=dead_letter)"
    )


class RecordErrorHandler:
    def __init__(
        self,
        on_deserialization_error: ErrorPolicy,
        on_processing_error: ErrorPolicy,
        dead_letter_topic: str,
        emitter: Emitter,
        metrics: Metrics,
    ) -> None:
        self._policies = {
            "deserialization": on_deserialization_error,
            "processing": on_processing_error,
        }
        self.dead_letter_topic = dead_letter_topic
        self._emitter = emitter
        self.metrics = metrics

    def handle(
        self,
        stage: str,
        field: str | None,
        exc: Exception,
        ctx: RecordContext,
        raw_key: bytes | None,
        raw_value: bytes | None,
    ) -> None:
        policy = self._policies[stage]
        if policy == "fail":
            hint = policy_hint(stage)
            raise RecordError(
                stage, ctx.topic, ctx.partition, ctx.offset, exc, field, hint
            ) from exc
        error = RecordError(stage, ctx.topic, ctx.partition, ctx.offset, exc, field)
        if policy == "skip":
            self.metrics.records_skipped += 1
            log.warning("skipped record: %s", error)
            return
        headers = list(ctx.headers or [])
        headers += [
            (HEADER_PREFIX + "stage", stage.encode()),
            (HEADER_PREFIX + "field", (field or "").encode()),
            (HEADER_PREFIX + "class", type(exc).__name__.encode()),
            (HEADER_PREFIX + "message", str(exc).encode()[:4096]),
            (
                HEADER_PREFIX + "stacktrace",
                "".join(traceback.format_exception(exc))[-8192:].encode(),
            ),
            (HEADER_PREFIX + "topic", ctx.topic.encode()),
            (HEADER_PREFIX + "partition", str(ctx.partition).encode()),
            (HEADER_PREFIX + "offset", str(ctx.offset).encode()),
            (HEADER_PREFIX + "timestamp_ms", str(ctx.timestamp_ms).encode()),
        ]
        # Stamped with the time of dead-lettering, not the record's: Kafka deletes by record
        # timestamp, so a record from a backfill weeks old would be gone from a topic with the
        # default 7-day retention at the broker's next retention check, minutes later.
        now_ms = int(time.time() * 1000)
        self._emitter.emit(self.dead_letter_topic, raw_key, raw_value, now_ms, headers)
        self.metrics.records_dead_lettered += 1
        log.warning("dead-lettered record to %s: %s", self.dead_letter_topic, error)

    @property
    def uses_dead_letter(self) -> bool:
        return "dead_letter" in self._policies.values()
