"""The soak pipeline: one exactly-once topology with three outputs from one input stream.

- ``windows``: 10 s tumbling windows (count and sum) per region, emitted once when final. The
  input is keyed by sensor, so the windows run behind a repartition topic
  (``<app_id>-by-region-repartition``) fed by every input task;
- ``counts``: a count per input key, every update written out (no repartition);
- ``alerts``: a ProcessFunction with event-time timers: a session ("start") without an "end"
  within ``timeout`` seconds of event time raises one alert naming the start.

Everything that decides an output is in state stores, so a crash or a moved task cannot change
it: tests/soak computes each output offline from the input alone.
"""

from __future__ import annotations

from typing import Any

from app_params import app_settings, params

from kstreamy import App, ProcessFunction
from kstreamy.windows import Tumbling


class MissingEnd(ProcessFunction):
    """An alert when a key's session is not ended within ``timeout`` s of its start.

    Each open session is its own map entry under its own timer, and an "end" names the start
    it ends: the watermark moves only after a batch of records, so a key may see its next
    session start before the previous one's timer fires, and a single "current session" value
    would then be overwritten."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def process(self, key: Any, value: Any, ctx: Any) -> None:
        sessions = ctx.map_state("sessions", "open")
        if value.get("kind") == "start":
            due_ms = round((ctx.timestamp + self.timeout) * 1000)
            sessions.put(str(value["n"]), due_ms)
            ctx.timers.register_event_time(due_ms / 1000)
        elif value.get("kind") == "end":
            due_ms = sessions.get(str(value["started"]))
            if due_ms is not None:
                ctx.timers.delete_event_time(due_ms / 1000)
                sessions.remove(str(value["started"]))

    def on_timer(self, timestamp: float, ctx: Any) -> None:
        sessions = ctx.map_state("sessions", "open")
        due_ms = round(timestamp * 1000)
        for started, due in list(sessions.items()):
            if due == due_ms:
                ctx.emit(ctx.key, {"missing_end": int(started)})
                sessions.remove(started)


def build_app() -> App:
    p = params()
    settings = {
        **app_settings(p),
        "processing_guarantee": "exactly_once",
        "commit_interval_ms": 100,
        **p.get("settings", {}),
    }
    app = App(p["app_id"], **settings)
    readings = app.stream(
        p["input"],
        key_serde="str",
        value_serde="json",
        timestamp=lambda key, value, record_ts: value["ts"],
        max_out_of_orderness=p["ooo"],
    )
    (
        readings.group_by(lambda key, value: value["region"], name="by-region", key_serde="str")
        .window(Tumbling(10.0))
        .aggregate(
            lambda: {"n": 0, "sum": 0},
            lambda key, value, acc: {"n": acc["n"] + 1, "sum": acc["sum"] + value["v"]},
            store="per-10s",
        )
        .emit_final()
        .to(p["windows"], key_serde="windowed-json", value_serde="json")
    )
    readings.group_by_key().count(store="counts").to(p["counts"], value_serde="int")
    (
        readings.process(MissingEnd(p["timeout"]), stores=["sessions"], name="missing-end").to(
            p["alerts"], key_serde="str", value_serde="json"
        )
    )
    return app
