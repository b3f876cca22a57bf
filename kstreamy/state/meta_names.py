"""Names of the metadata entries operators keep in their stores.

They are part of the store layout: the runtime's operators write them, and savepoints read them
(a savepoint of several tasks merges each entry, see ``kstreamy.savepoint.task_entries``), so
they live beside the stores rather than with either side.
"""

from __future__ import annotations

SWEPT_META = b"swept"
"""Watermark of a window aggregation's last sweep (a signed 64-bit big-endian integer)."""

JOIN_WATERMARK_META = b"join-watermark"
"""Watermark a stream-stream join last acted on (an order-preserving time)."""
