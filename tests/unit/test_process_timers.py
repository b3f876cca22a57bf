"""Timers in the Processor API, driven by the test driver's watermark and wall clock."""

from __future__ import annotations

import pytest

from kstreamy import App, ProcessFunction
from kstreamy.errors import KStreamyError, TopologyError
from kstreamy.testing import TestDriver


class FollowUp(ProcessFunction):
    """Alerts when a key's "start" is not followed by "end" within 10 s of event time."""

    def process(self, key, value, ctx):
        state = ctx.value_state("s", "started")
        if value == "start":
            state.set(ctx.timestamp)
            ctx.timers.register_event_time(ctx.timestamp + 10)
        elif value == "end" and state.get() is not None:
            ctx.timers.delete_event_time(state.get() + 10)
            state.clear()

    def on_timer(self, timestamp, ctx):
        ctx.emit(ctx.key, {"missing_end_since": ctx.value_state("s", "started").get()})
        ctx.value_state("s", "started").clear()


def app_with(function: ProcessFunction, ooo: float = 0.0) -> App:
    app = App("timers")
    (
        app.stream("in", key_serde="str", value_serde="json", max_out_of_orderness=ooo)
        .process(function, stores=["s"], name="follow-up")
        .to("out", key_serde="str", value_serde="json")
    )
    return app


def test_event_time_timers_fire_when_the_watermark_passes_them_in_time_order():
    driver = TestDriver(app_with(FollowUp()))
    driver.pipe("in", "b", "start", timestamp=102.0)
    driver.pipe("in", "a", "start", timestamp=100.0)
    driver.pipe("in", "c", "start", timestamp=101.0)
    driver.pipe("in", "c", "end", timestamp=105.0)  # deletes c's timer
    assert driver.read("out") == []
    driver.pipe("in", "x", "noise", timestamp=110.0)  # watermark 110: a's timer at 110 waits
    assert driver.read("out") == []
    driver.pipe("in", "x", "noise", timestamp=113.0)
    assert driver.read("out") == [
        ("a", {"missing_end_since": 100.0}),
        ("b", {"missing_end_since": 102.0}),
    ]


def test_timer_records_carry_the_timer_time():
    driver = TestDriver(app_with(FollowUp()))
    driver.pipe("in", "a", "start", timestamp=100.0)
    driver.pipe("in", "x", "noise", timestamp=200.0)
    (record,) = driver.records("out")
    assert record.timestamp == 110.0


def test_out_of_orderness_delays_timers():
    driver = TestDriver(app_with(FollowUp(), ooo=5.0))
    driver.pipe("in", "a", "start", timestamp=100.0)
    driver.pipe("in", "x", "noise", timestamp=114.0)  # watermark 109
    assert driver.read("out") == []
    driver.pipe("in", "x", "noise", timestamp=116.0)  # watermark 111
    assert driver.read("out") == [("a", {"missing_end_since": 100.0})]


class Reminder(ProcessFunction):
    def process(self, key, value, ctx):
        for _ in range(3):  # at most one timer per key and time
            ctx.timers.register_processing_time(ctx.timers.current_processing_time + 60)

    def on_timer(self, timestamp, ctx):
        ctx.emit(ctx.key, {"reminder_at": timestamp})


def test_processing_time_timers_follow_the_wall_clock_once_per_key_and_time():
    driver = TestDriver(app_with(Reminder()), wall_clock=1000.0)
    driver.pipe("in", "a", "x", timestamp=1.0)
    driver.advance_wall_clock(59.0)
    assert driver.read("out") == []
    driver.advance_wall_clock(1.0)
    assert driver.read("out") == [("a", {"reminder_at": 1060.0})]
    driver.advance_wall_clock(600.0)
    assert driver.read("out") == []


def test_timers_live_in_a_store_named_after_the_step():
    app = app_with(FollowUp())
    assert app.topology.stores["follow-up-timers"].kind == "timers"
    assert "follow-up-timers" in app.describe()


def test_a_step_with_on_timer_needs_a_name():
    app = App("timers")
    with pytest.raises(TopologyError, match="on_timer needs name"):
        app.stream("in").process(FollowUp())


def test_timers_without_on_timer_are_a_clear_error():
    class NoTimer(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.timers.register_event_time(1.0)

    app = App("timers", on_processing_error="fail")
    app.stream("in", key_serde="str", value_serde="json").process(NoTimer())
    driver = TestDriver(app)
    with pytest.raises(Exception, match="overrides on_timer"):
        driver.pipe("in", "a", 1, timestamp=1.0)


def test_a_failing_on_timer_names_the_step_key_and_time():
    class Broken(FollowUp):
        def on_timer(self, timestamp, ctx):
            raise RuntimeError("boom")

    driver = TestDriver(app_with(Broken()))
    driver.pipe("in", "a", "start", timestamp=100.0)
    with pytest.raises(KStreamyError, match=r"follow-up: on_timer failed for key 'a'.*110000"):
        driver.pipe("in", "x", "noise", timestamp=111.0)
