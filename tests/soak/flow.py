"""The soak input and the offline expectation of each of its three outputs.

Input record ``n`` is a function of ``n`` alone, so after the run the expected output of
``tests/apps/soak_app.py`` follows from how many records were sent, whatever the faults did:

- key: sensor ``n % 40``; value ``{"n", "ts", "v", "region", "kind"}``;
- event time ``start + n * STEP`` minus a lateness of up to 1 s, below the stream's
  out-of-orderness, so no record is ever late. Every value is a binary fraction, so seconds
  and milliseconds convert exactly and no record sits on a window edge by rounding;
- ``kind``: each sensor's records, in order, go start, end-or-tick, tick, tick; one session
  in three has no end, and an end names the start it ends. A sensor's records are 5 s of event
  time apart and the timer is 8 s after a start, so an end is always read before the
  watermark (at most the largest event time read minus 2 s) can pass its session's timer,
  however records are batched; an unended session alerts once, whenever its timer fires.

After the last input one "flush" record per input partition, far ahead in event time, moves
every watermark past the last window and timer, so every result is final.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import Any

from tests_support.cluster_flow import Seen, count_update_problems

SENSORS = [f"s{i:02d}" for i in range(40)]
REGIONS = ["north", "south", "west"]
STEP = 0.125
"""Event-time seconds between consecutive inputs."""
LATENESS = (0.0, 0.375, 0.75, 1.0, 0.25)
OOO = 2.0
"""The stream's max_out_of_orderness: above every lateness, so no record is late."""
TIMEOUT = 8.0
"""Seconds of event time a session may stay without an end before its alert."""
WINDOW_MS = 10_000
FLUSH_AHEAD = 10_000_000.0
"""How far past the start the flush records are in event time (past any run's input)."""

Record = tuple[bytes, bytes]


def start_time() -> float:
    """Event times start at the current hour: far older records would be deleted by the
    broker's retention check (by record timestamp) while the soak still needs them."""
    return float(int(time.time()) // 3600 * 3600)


def kind(n: int) -> str:
    j = len(SENSORS)
    turn = n // j
    if turn % 4 == 0:
        return "start"
    if turn % 4 == 1 and (turn // 4) % 3 != 0:
        return "end"
    return "tick"


def value(n: int, start: float) -> dict[str, Any]:
    sensor = n % len(SENSORS)
    v = {
        "n": n,
        "ts": start + n * STEP - LATENESS[n % len(LATENESS)],
        "v": n % 7,
        "region": REGIONS[sensor % len(REGIONS)],
        "kind": kind(n),
    }
    if v["kind"] == "end":
        v["started"] = n - len(SENSORS)
    return v


def record(n: int, start: float) -> Record:
    return SENSORS[n % len(SENSORS)].encode(), json.dumps(value(n, start)).encode()


def flush_record(start: float) -> Record:
    flush = {"n": -1, "ts": start + FLUSH_AHEAD, "v": 0, "region": "flush", "kind": "flush"}
    return b"flush", json.dumps(flush).encode()


# -- offline expectations -------------------------------------------------------------------


def expected_windows(total: int, start: float) -> dict[tuple[str, int], dict[str, int]]:
    windows: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"n": 0, "sum": 0})
    for n in range(total):
        v = value(n, start)
        window = (v["region"], round(v["ts"] * 1000) // WINDOW_MS * WINDOW_MS)
        windows[window]["n"] += 1
        windows[window]["sum"] += v["v"]
    return dict(windows)


def expected_counts(total: int) -> dict[str, int]:
    """Inputs per sensor: its count updates must be exactly 1, 2, ..., that number."""
    return dict(Counter(SENSORS[n % len(SENSORS)] for n in range(total)))


def expected_alerts(total: int) -> set[tuple[str, int]]:
    """(sensor, n of the start) of every session with no end among the first ``total`` inputs
    (a session whose end was never sent alerts once the flush passes its timer)."""
    gap = len(SENSORS)
    return {
        (SENSORS[n % gap], n)
        for n in range(total)
        if kind(n) == "start" and (n + gap >= total or kind(n + gap) != "end")
    }


# -- comparisons: a list of differences, empty when exact -----------------------------------


def window_problems(records: list[Seen], total: int, start: float) -> list[str]:
    """Every window once, with the value computed offline; the flush window stays open."""
    want = expected_windows(total, start)
    got: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in records:
        key = json.loads(r.key)
        got[(key["key"], int(key["start_ms"]))].append(json.loads(r.value))
    problems = [
        f"window {w}: emitted {len(v)} times: {v[:3]}" for w, v in got.items() if len(v) > 1
    ]
    problems += [f"window {w}: missing (want {v})" for w, v in want.items() if w not in got]
    problems += [
        f"window {w}: {got[w][0]} != {v}" for w, v in want.items() if w in got and got[w][0] != v
    ]
    problems += [f"window {w}: unexpected {v}" for w, v in got.items() if w not in want]
    return sorted(problems)


def count_problems(records: list[Seen], total: int, partitions: int) -> list[str]:
    """Every count update of every sensor exactly once and in order: 1, 2, ..., n; and each
    input partition counts its one flush record once."""
    per_key: dict[str, list[int]] = defaultdict(list)
    for r in records:
        per_key[r.key.decode()].append(int.from_bytes(r.value, "big", signed=True))
    problems = []
    flushes = per_key.pop("flush", [])
    if flushes != [1] * partitions:
        problems.append(f"count flush: {flushes} != {[1] * partitions}")
    problems += [f"count {p}" for p in count_update_problems(per_key, expected_counts(total))]
    return problems


def alert_problems(records: list[Seen], total: int) -> list[str]:
    """Every unended session alerted exactly once, and nothing else."""
    got = Counter((r.key.decode(), json.loads(r.value)["missing_end"]) for r in records)
    want = expected_alerts(total)
    problems = [f"alert {a}: fired {k} times" for a, k in sorted(got.items()) if k > 1]
    problems += [f"alert {a}: missing" for a in sorted(want - set(got))]
    problems += [f"alert {a}: unexpected" for a in sorted(set(got) - want)]
    return problems
