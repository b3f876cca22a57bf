"""Run a blocking client call with a bound the caller can rely on.

A transactional call of librdkafka takes a timeout, but does not always keep it: a request
waiting for a coordinator on a broker that has left the cluster waits until some other broker
changes state, possibly never (confluentinc/librdkafka#5511). The call runs on a daemon thread
and the caller stops waiting at the bound; the thread, blocked in the client, is abandoned with
the client, which the caller must never use again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class CallTimedOut(Exception):
    """The call did not return within its bound; it may still be running."""


def call_within(operation: Callable[[], T], bound_s: float, name: str) -> T:
    """``operation()``'s result or exception, or CallTimedOut after ``bound_s`` seconds."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = operation()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"kstreamy-{name}", daemon=True).start()
    if not done.wait(bound_s):
        raise CallTimedOut(f"{name} did not return within {bound_s:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
