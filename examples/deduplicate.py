"""Drop repeated events (same event id) with the Processor API and keyed state.

    kstreamy topics create payments payments-unique --partitions 4
    kstreamy run examples.deduplicate:app

Input: ``payments`` (key: account, value: JSON with an ``id``). Output: ``payments-unique``, each
event id once per account. The ids seen are kept in a map state in the ``seen-ids`` store, backed
by a changelog, so a restarted or moved instance still remembers them. Run it with
``processing_guarantee="exactly_once"`` to also keep kstreamy from writing an event twice.
"""

from __future__ import annotations

from typing import Any

from kstreamy import App, ProcessFunction, ProcessorContext


class DropRepeats(ProcessFunction):
    """Forward an event only the first time its id is seen for its account."""

    def process(self, key: str, value: dict[str, Any], ctx: ProcessorContext) -> None:
        seen = ctx.map_state("seen-ids", "ids")
        if value["id"] in seen:
            return
        seen.put(value["id"], ctx.timestamp)
        ctx.emit(key, value)


app = App("deduplicate")

(
    app.stream("payments", key_serde="str", value_serde="json")
    .process(DropRepeats(), stores=["seen-ids"], name="drop-repeats")
    .to("payments-unique")
)
