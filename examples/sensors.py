"""Per-sensor temperature statistics on event time, from readings that arrive out of order.

Input: ``readings`` (key: sensor id, value: JSON ``{"ts": <epoch seconds>, "celsius": 21.5}``).
The event time is the reading's ``ts``, not the time Kafka received it: sensors buffer and
resend, so readings reach the topic late and out of order. Outputs, one final record per window
(keys in ``windowed-json``: ``{"key", "start", "end", ...}``, which ``kstreamy topics tail``
prints as ``[key, start_ms, end_ms]``):

- ``sensor-stats-1m``: per sensor and minute (tumbling windows ``[start, start + 60 s)``),
  ``{"n", "avg", "min", "max"}`` of the readings taken in that minute;
- ``sensor-max-30s``: per sensor, the highest temperature over any 30 s (sliding windows
  ``[start, start + 30 s]``, one per distinct set of readings);
- ``late-readings``: readings that came after their window had closed, as read, with
  ``kstreamy.late.*`` headers naming the window (once per window they missed).

Readings may arrive up to ``MAX_OUT_OF_ORDERNESS`` (10 s) behind the newest reading of their
partition: the watermark trails by that much, so they still count. Windows wait ``GRACE`` (5 s)
more before they close, for the odd straggler; a reading later than that is reported on
``late-readings`` and changes nothing. Results therefore depend only on the readings, not on
their arrival order. A window's result comes out once a reading more than 15 s past its end
has arrived on the sensor's partition: a partition's watermark moves only with its readings.

    kstreamy topics create readings sensor-stats-1m sensor-max-30s late-readings --partitions 4
    kstreamy run examples.sensors:app
    printf 's1\\t{"ts": 1700000050, "celsius": 21.5}\\ns1\\t{"ts": 1700000120, "celsius": 22}\\n' \\
        | kstreamy topics produce readings --app examples.sensors:app
    kstreamy topics tail sensor-stats-1m --app examples.sensors:app
    kstreamy topics tail sensor-max-30s --app examples.sensors:app
"""

from __future__ import annotations

from typing import Any

from kstreamy import App
from kstreamy.windows import Sliding, Tumbling

MAX_OUT_OF_ORDERNESS = 10.0
"""Seconds a reading may trail the newest one of its partition and still be on time."""
GRACE = 5.0
"""Seconds windows stay open after the watermark passes their end, for stragglers."""
MINUTE = Tumbling(60.0, grace=GRACE)
PEAK = Sliding(30.0, grace=GRACE)


def event_time(key: Any, value: dict[str, Any], record_ts: float) -> float:
    """The time the sensor took the reading."""
    return float(value["ts"])


def add_reading(key: str, value: dict[str, Any], acc: dict[str, Any]) -> dict[str, Any]:
    """Fold one reading into a minute's statistics.

    The sum is kept in integer hundredths of a degree: a float sum depends on the order of the
    additions, an integer one does not, so the average is the same whatever the arrival order.
    """
    celsius = float(value["celsius"])
    return {
        "n": acc["n"] + 1,
        "centi": acc["centi"] + round(celsius * 100),
        "min": celsius if acc["min"] is None else min(acc["min"], celsius),
        "max": celsius if acc["max"] is None else max(acc["max"], celsius),
    }


def highest(key: str, value: dict[str, Any], peak: float | None) -> float:
    """The highest temperature of a window so far."""
    celsius = float(value["celsius"])
    return celsius if peak is None else max(peak, celsius)


def minute_stats(acc: dict[str, Any]) -> dict[str, Any]:
    """What is published for a minute: count, average (to 0.01 degree), min and max."""
    return {
        "n": acc["n"],
        "avg": round(acc["centi"] / acc["n"] / 100, 2),
        "min": acc["min"],
        "max": acc["max"],
    }


def build_app(suffix: str = "", **settings: Any) -> App:
    """The application; ``suffix`` goes after its id and topic names, so that several copies
    (a staging run, a test) can share one broker."""
    app = App(f"sensors{suffix}", **settings)
    late = f"late-readings{suffix}"
    by_sensor = app.stream(
        f"readings{suffix}",
        key_serde="str",
        value_serde="json",
        timestamp=event_time,
        max_out_of_orderness=MAX_OUT_OF_ORDERNESS,
    ).group_by_key()
    (
        by_sensor.window(MINUTE, late_topic=late)
        .aggregate(
            lambda: {"n": 0, "centi": 0, "min": None, "max": None},
            add_reading,
            store="minute-stats",
        )
        .emit_final()
        .to_stream()
        .map_values(minute_stats)
        .to(f"sensor-stats-1m{suffix}", key_serde="windowed-json", value_serde="json")
    )
    (
        by_sensor.window(PEAK, late_topic=late)
        .aggregate(
            lambda: None,
            highest,
            store="peak-30s",
        )
        .emit_final()
        .to(f"sensor-max-30s{suffix}", key_serde="windowed-json", value_serde="json")
    )
    return app


app = build_app()
