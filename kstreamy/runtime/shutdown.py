"""Graceful stop on SIGTERM / SIGINT for the instance running in the main thread."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("kstreamy.instance")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, enabled: bool = True) -> Iterator[None]:
    """While inside, SIGTERM or SIGINT sets ``stop``: the loop finishes its batch, commits and
    leaves the group. A second signal raises KeyboardInterrupt: stop now, without committing.

    Signal handlers can only be installed from the main thread; elsewhere this does nothing and
    the caller stops the instance through ``stop`` itself.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info(
            "received %s: finishing the batch, committing, leaving the group",
            signal.Signals(signum).name,
        )
        stop.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
