"""A windowed pipeline for savepoint and rescaling tests (see tests_support.savepoint_pipeline).

Event ``n`` happens at second ``n // 30``: each of the 30 keys has one event a second. Per key,
count and sum of ``n`` over 10 s tumbling windows of event time, emitted once when final (window
store ``per-10s``); and an event-time timer (timer store ``reminder-timers``) set by the first
event of each window for 25 s later, which writes one record when it fires. The timer outlives
the events that set it, so a timer lost on the way through a savepoint is missed.
"""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App, ProcessFunction
from kstreamy.windows import Tumbling

KEYS_PER_SECOND = 30
WINDOW_S = 10
REMIND_AFTER_S = 25


class Reminder(ProcessFunction):
    def process(self, key, value, ctx):
        second = value["n"] // KEYS_PER_SECOND
        if second % WINDOW_S == 0:
            ctx.timers.register_event_time(second + REMIND_AFTER_S)

    def on_timer(self, timestamp, ctx):
        at_ms = round(timestamp * 1000)
        ctx.emit(f"{ctx.key}@{at_ms}", {"at_ms": at_ms})


def build_app() -> App:
    p = params()
    settings = {**app_settings(p), **p.get("guarantee", {})}
    app = App(p["app_id"], **settings)
    stream = app.stream(
        p["input"],
        key_serde="str",
        value_serde="json",
        timestamp=lambda key, value, record_ts: float(value["n"] // KEYS_PER_SECOND),
        max_out_of_orderness=0.0,
    )
    (
        stream.group_by_key()
        .window(Tumbling(float(WINDOW_S)))
        .aggregate(
            lambda: {"count": 0, "sum": 0},
            lambda key, value, acc: {"count": acc["count"] + 1, "sum": acc["sum"] + value["n"]},
            store="per-10s",
        )
        .emit_final()
        .to_stream()
        .map(lambda window, acc: (f"{window.key}@{window.start_ms}", acc), name="label")
        .to(p["windows"], key_serde="str", value_serde="json")
    )
    stream.process(Reminder(), name="reminder").to(p["timers"], key_serde="str", value_serde="json")
    return app
