"""Timers: an alert when a key's "start" has no "end" within 10 s of event time."""

from __future__ import annotations

from app_params import app_settings, params

from kstreamy import App, ProcessFunction


class MissingEnd(ProcessFunction):
    def process(self, key, value, ctx):
        started = ctx.value_state("sessions", "started")
        if value["kind"] == "start":
            started.set(ctx.timestamp)
            ctx.timers.register_event_time(ctx.timestamp + 10)
        elif value["kind"] == "end" and started.get() is not None:
            ctx.timers.delete_event_time(started.get() + 10)
            started.clear()

    def on_timer(self, timestamp, ctx):
        ctx.emit(ctx.key, {"missing_end": ctx.value_state("sessions", "started").get()})
        ctx.value_state("sessions", "started").clear()


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))
    (
        app.stream(
            p["input"],
            key_serde="str",
            value_serde="json",
            timestamp=lambda key, value, record_ts: value["ts"],
        )
        .process(MissingEnd(), stores=["sessions"], name="missing-end")
        .to(p["output"], key_serde="str", value_serde="json")
    )
    return app
