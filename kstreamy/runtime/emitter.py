"""Where processed records go: a Kafka producer at run time, a list in the test driver."""

from __future__ import annotations

from typing import Protocol


class Emitter(Protocol):
    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Hand one serialized record over for delivery; may buffer."""
