"""Log records that say where they come from, as text or one JSON object per line.

With several instances and many tasks writing to one log pipeline, "task 0_3 failed" is only
useful if every line carries the instance and task it came from. :class:`ContextFilter` adds
``instance_id`` and ``task_id`` to each record: the instance id is set once when an instance
starts, the task id by the runtime whenever it works on one task (once per run of records, not
per record). :class:`JsonFormatter` writes each record as one JSON object, for log shippers.

kstreamy installs a handler only when the program has configured no logging itself; a program
with its own logging setup can add these two classes to its handlers.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time
from typing import Any

from kstreamy.errors import ConfigError

LOG_FORMATS = ("text", "json")

_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("kstreamy_task", default=None)
_instance_id: str | None = None

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s"


def set_instance(instance_id: str | None) -> None:
    """The instance running in this process (one per process in normal operation)."""
    global _instance_id
    _instance_id = instance_id


def set_task(task_id: str | None) -> contextvars.Token[str | None]:
    """Attribute the following log records of this thread to ``task_id`` (None: no task)."""
    return _task_id.set(task_id)


def current_task() -> str | None:
    return _task_id.get()


class ContextFilter(logging.Filter):
    """Adds ``instance_id``, ``task_id`` and ``where`` (both, as text) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = _task_id.get()
        record.instance_id = _instance_id
        record.task_id = task
        parts = [f"instance={_instance_id}"] if _instance_id else []
        if task:
            parts.append(f"task={task}")
        record.where = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, instance_id, task_id, and the
    exception text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "instance_id": getattr(record, "instance_id", _instance_id),
            "task_id": getattr(record, "task_id", None),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_format(configured: str = "text") -> str:
    """``KSTREAMY_LOG_FORMAT`` if set (operators choose the format of a deployed app), else the
    configured setting."""
    chosen = os.environ.get("KSTREAMY_LOG_FORMAT") or configured
    if chosen not in LOG_FORMATS:
        raise ConfigError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {chosen!r}")
    return chosen


def configure_logging(configured_format: str = "text") -> bool:
    """Install one stderr handler on the root logger unless the program configured logging.

    Returns whether a handler was installed. The level comes from ``KSTREAMY_LOG_LEVEL``
    (default INFO).
    """
    root = logging.getLogger()
    if root.handlers:
        return False
    handler = logging.StreamHandler()
    if log_format(configured_format) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(os.environ.get("KSTREAMY_LOG_LEVEL", "INFO"))
    return True
