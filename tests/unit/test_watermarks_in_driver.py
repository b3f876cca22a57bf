"""Watermarks as tasks see them: idle inputs, and upstream tasks across a repartition topic."""

from __future__ import annotations

from kstreamy import App
from kstreamy.testing import TestDriver
from kstreamy.windows import Tumbling


def merged_inputs_app(idle_timeout: float | None) -> App:
    app = App("idle")
    (
        app.stream(["a", "b"], key_serde="str", value_serde="json", idle_timeout=idle_timeout)
        .group_by_key()
        .window(Tumbling(10.0))
        .count(store="per-10s")
        .emit_final()
        .to("out", key_serde="windowed-json", value_serde="int")
    )
    return app


def test_a_silent_input_holds_the_watermark_back():
    driver = TestDriver(merged_inputs_app(idle_timeout=None))
    driver.pipe("a", "k", {}, timestamp=1.0)
    driver.pipe("a", "k", {}, timestamp=25.0)
    driver.advance_wall_clock(3600.0)
    assert driver.read("out") == []  # topic b has said nothing: no window may close
    assert driver.watermarks() == {"0_0": None}


def test_an_idle_input_stops_holding_the_watermark_back_until_it_has_data_again():
    driver = TestDriver(merged_inputs_app(idle_timeout=5.0), wall_clock=1000.0)
    driver.pipe("a", "k", {}, timestamp=1.0)
    driver.pipe("a", "k", {}, timestamp=25.0)
    assert driver.read("out") == []
    driver.advance_wall_clock(3.0)
    driver.advance_wall_clock(3.0)  # b has been silent for 6 s > 5 s: idle
    [(window, count)] = driver.read("out")
    assert (window.key, window.start, count) == ("k", 0.0, 1)
    assert driver.watermarks() == {"0_0": 25.0}
    driver.pipe("b", "k", {}, timestamp=12.0)  # b is back, behind the watermark: late
    assert driver.metrics.late_records_dropped == 1
    assert driver.watermarks() == {"0_0": 25.0}  # never goes back


def regrouped_app() -> App:
    app = App("regrouped")
    (
        app.stream("in", key_serde="str", value_serde="json")
        .group_by(lambda key, value: value["region"], name="by-region", key_serde="str")
        .window(Tumbling(10.0))
        .count(store="per-region")
        .emit_final()
        .to("out", key_serde="windowed-json", value_serde="int")
    )
    return app


def test_a_slow_upstream_task_holds_downstream_windows_open():
    driver = TestDriver(regrouped_app(), partitions=2)
    driver.pipe("in", "s1", {"region": "eu"}, timestamp=1.0, partition=0)
    driver.pipe("in", "s1", {"region": "eu"}, timestamp=30.0, partition=0)
    # Upstream task 0_1 has not reported: the downstream windows must not close yet.
    assert driver.read("out") == []
    driver.pipe("in", "s2", {"region": "eu"}, timestamp=5.0, partition=1)
    assert driver.read("out") == []  # 0_1's watermark is 5: [0, 10) stays open
    driver.pipe("in", "s2", {"region": "us"}, timestamp=31.0, partition=1)
    out = driver.read("out")
    assert [(w.key, w.start, n) for w, n in out] == [("eu", 0.0, 2)]
    marks = driver.watermarks()
    assert marks["0_0"] == 30.0 and marks["0_1"] == 31.0
    assert marks["1_0"] == 30.0  # the minimum over the upstream tasks


def test_retention_keeps_closed_windows_readable_for_a_while():
    from kstreamy.state.window_store import WindowStore

    app = App("retained")
    (
        app.stream("in", key_serde="str", value_serde="json")
        .group_by_key()
        .window(Tumbling(10.0), retention=60.0)
        .count(store="kept")
        .emit_final()
        .to("out", key_serde="windowed-json", value_serde="int")
    )
    driver = TestDriver(app)
    driver.pipe("in", "k", {}, timestamp=1.0)
    driver.pipe("in", "k", {}, timestamp=15.0)  # closes [0, 10)
    assert len(driver.read("out")) == 1
    task = driver._task("in", 0)
    store = WindowStore(task.state.transaction("kept"), 10_000)
    assert [start for start, _, _ in store.fetch(b"k", 0, 100_000)] == [0, 10_000]
    driver.pipe("in", "k", {}, timestamp=75.0)  # [0, 10) is past end + retention, [10, 20) not
    assert [start for start, _, _ in store.fetch(b"k", 0, 100_000)] == [10_000, 70_000]
