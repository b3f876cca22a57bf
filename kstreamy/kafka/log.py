"""librdkafka's log lines through Python logging, at levels that fit a stream processor.

Left alone, librdkafka prints every failed connection attempt to stderr (a few per second while
a broker is away), which buries kstreamy's own message about what is wrong. Every client
kstreamy creates passes an instance of :class:`KafkaLog` as confluent-kafka's ``logger``
setting, so the lines go to the ``kstreamy.librdkafka`` logger instead:

- librdkafka errors and warnings become WARNING: they are mostly transient (a broker
  restarting), and whatever is not transient reaches the user as a kstreamy error;
- everything below becomes DEBUG;
- a line that repeats (same facility, same text up to numbers) is logged once per
  ``repeat_window`` seconds, with how many were left out.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

_NUMBERS = re.compile(r"\d+")


class KafkaLog:
    """Duck-typed ``logging.Logger`` for confluent-kafka's ``logger`` client setting."""

    def __init__(self, name: str = "kstreamy.librdkafka", repeat_window: float = 30.0) -> None:
        self._logger = logging.getLogger(name)
        self._window = repeat_window
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        """(facility, normalized text) -> (time it was last logged, repeats left out since)."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        """Called by confluent-kafka as ``log(level, "%s [%s] %s", facility, client, text)``."""
        python_level = logging.WARNING if level >= logging.WARNING else logging.DEBUG
        if not self._logger.isEnabledFor(python_level):
            return
        facility = str(args[0]) if args else ""
        text = str(args[-1]) if args else fmt
        key = (facility, _NUMBERS.sub("#", text))
        now = time.monotonic()
        last, left_out = self._seen.get(key, (0.0, 0))
        if last and now - last < self._window:
            self._seen[key] = (last, left_out + 1)
            return
        if len(self._seen) > 1000:  # texts that never repeat must not grow the map forever
            self._seen.clear()
        self._seen[key] = (now, 0)
        message = fmt % args if args else fmt
        if left_out:
            message += f" ({left_out} similar lines in the last {self._window:.0f}s left out)"
        self._logger.log(python_level, "%s", message)
