"""Windowed aggregation against brute-force references, over random out-of-order streams.

Events ``(key, ts)`` arrive in a random order; the watermark is the largest timestamp seen
minus an out-of-orderness bound, and sometimes jumps ahead on its own; commits and aborts
(with replay from the last commit, as after a failed transaction) happen at random points.
For every window type and both emit modes:

* final mode emits every window exactly once, after it closed, holding exactly the records
  that were on time for it;
* update mode's last value per window equals that same result;
* the late records are exactly those reported to ``on_late``.

Each record's value is its position in the stream and the aggregate is the sorted list of
values, so a result names exactly which records a window holds.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstreamy.windows import Hopping, Session, Sliding, Tumbling
from tests_support.windowing import Harness

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = st.sampled_from(["a", "b", "c"])
# "jump": the watermark moves without a record of this aggregation (another partition, an
# idle one, an upstream task), so windows can close while none are open.
ACTIONS = st.sampled_from(["", "", "", "", "commit", "commit", "abort", "rebuild", "jump"])
SMALL = st.one_of(st.just(0), st.integers(0, 10), st.integers(0, 60))


@st.composite
def streams(draw: Any, max_ts: int = 120) -> dict[str, Any]:
    # Small ranges, so that records often share windows, sit a millisecond apart and hit
    # close times exactly.
    spread = draw(st.sampled_from([4, 12, 30, max_ts]))
    times = st.integers(-20, -20 + spread)
    events = draw(st.lists(st.tuples(KEYS, times), min_size=1, max_size=40))
    return {
        "events": events,
        "actions": draw(st.lists(ACTIONS, min_size=len(events), max_size=len(events))),
        "ooo": draw(SMALL),
        "cache_size": draw(st.sampled_from([0, 1, 3, 10_000])),
        "retention_ms": draw(st.sampled_from([0, 7, 100])),
    }


tumbling = st.builds(
    lambda size, grace: Tumbling(size / 1000, grace=grace / 1000),
    st.integers(1, 30),
    SMALL,
)
hopping = st.integers(1, 30).flatmap(
    lambda size: st.builds(
        lambda advance, grace: Hopping(size / 1000, advance / 1000, grace=grace / 1000),
        st.integers(1, size),
        SMALL,
    )
)
sliding = st.builds(
    lambda diff, grace: Sliding(diff / 1000, grace=grace / 1000),
    st.integers(1, 30),
    SMALL,
)
sessions = st.builds(
    lambda gap, grace: Session(gap / 1000, grace=grace / 1000),
    st.integers(1, 20),
    SMALL,
)


def run(windows: Any, emit_final: bool, stream: dict[str, Any], count: bool = False):
    """Feed the stream with commits and aborts; return the harness and the watermark each
    record saw (identical on replay)."""
    h = Harness(
        windows,
        emit_final=emit_final,
        ooo=stream["ooo"],
        count=count,
        cache_size=stream["cache_size"],
        retention_ms=stream["retention_ms"],
    )
    events, actions = stream["events"], stream["actions"]
    seen: dict[int, int] = {}
    position = committed = 0
    aborted: set[int] = set()
    while position < len(events):
        key, ts = events[position]
        seen[position] = h.send(key, ts, position)
        action = actions[position]
        position += 1
        if action == "commit":
            h.commit()
            committed = position
        elif action == "jump":
            h.advance(h.watermark + 40 if h.watermark > -(1 << 62) else 0)
        elif action in ("abort", "rebuild") and position not in aborted:
            aborted.add(position)
            h.abort(rebuild=action == "rebuild")
            position = committed
    h.close_all()
    return h, seen


def check(h: Harness, windows: Any, emit_final: bool, expected: dict, late: set) -> None:
    reported = [(x.value, x.window.key, x.window.start_ms, x.window.end_ms) for x in h.late]
    assert len(reported) == len(set(reported)), "a late record was reported twice"
    assert set(reported) == late
    if emit_final:
        assert h.finals() == expected
        for out in h.outputs:
            assert out.watermark >= windows.close_time(out.window.end_ms), "emitted early"
            last_ms = out.window.end_ms - (0 if windows.inclusive_end else 1)
            assert out.ts_ms == last_ms
    else:
        assert h.latest() == expected
        for out in h.outputs:
            assert out.watermark < windows.close_time(out.window.end_ms), "updated when closed"


# tumbling and hopping ---------------------------------------------------------------------
def time_window_reference(windows: Any, events: list, seen: dict) -> tuple[dict, set]:
    content: dict[tuple[str, int, int], list[int]] = defaultdict(list)
    late = set()
    for i, (key, ts) in enumerate(events):
        for start, end in windows.windows_for(ts):
            if windows.close_time(end) <= seen[i]:
                late.add((i, key, start, end))
            else:
                content[key, start, end].append(i)
    return {w: sorted(ids) for w, ids in content.items()}, late


@SETTINGS
@given(windows=st.one_of(tumbling, hopping), stream=streams(), emit_final=st.booleans())
def test_time_windows_match_brute_force(windows, stream, emit_final) -> None:
    h, seen = run(windows, emit_final, stream)
    expected, late = time_window_reference(windows, stream["events"], seen)
    check(h, windows, emit_final, expected, late)


@SETTINGS
@given(windows=st.one_of(tumbling, hopping), stream=streams(), emit_final=st.booleans())
def test_time_window_counts_match_brute_force(windows, stream, emit_final) -> None:
    h, seen = run(windows, emit_final, stream, count=True)
    expected, late = time_window_reference(windows, stream["events"], seen)
    check(h, windows, emit_final, {w: len(ids) for w, ids in expected.items()}, late)


# sliding -------------------------------------------------------------------------------------
def sliding_reference(windows: Sliding, events: list, seen: dict) -> tuple[dict, set]:
    """Kafka Streams' sliding windows over the on-time records, from their definition."""
    diff = windows.size_ms
    on_time: dict[str, list[tuple[int, int]]] = defaultdict(list)
    late = set()
    for i, (key, ts) in enumerate(events):
        if windows.close_time(ts) <= seen[i]:  # its own window [ts - diff, ts] is closed
            late.add((i, key, ts - diff, ts))
        else:
            on_time[key].append((ts, i))
    expected = {}
    for key, records in on_time.items():
        times = [t for t, _ in records]
        starts = {t - diff for t in times}
        starts |= {p + 1 for p in times if any(p < r <= p + 1 + diff for r in times)}
        for start in starts:
            expected[key, start, start + diff] = sorted(
                i for t, i in records if start <= t <= start + diff
            )
    return expected, late


@SETTINGS
@given(windows=sliding, stream=streams(), emit_final=st.booleans())
def test_sliding_windows_match_brute_force(windows, stream, emit_final) -> None:
    h, seen = run(windows, emit_final, stream)
    expected, late = sliding_reference(windows, stream["events"], seen)
    check(h, windows, emit_final, expected, late)


# sessions ------------------------------------------------------------------------------------
def session_reference(windows: Session, events: list, seen: dict) -> tuple[dict, set]:
    """Sessions with plain lists: merge with every open session within the gap."""
    gap, close = windows.gap_ms, windows.close_time(0)
    sessions: dict[str, list[tuple[int, int, list[int]]]] = defaultdict(list)
    late = set()
    for i, (key, ts) in enumerate(events):
        watermark = seen[i]
        joined = [
            s
            for s in sessions[key]
            if s[1] + close > watermark and s[1] >= ts - gap and s[0] <= ts + gap
        ]
        start = min([ts, *(s[0] for s in joined)])
        end = max([ts, *(s[1] for s in joined)])
        if end + close <= watermark:
            late.add((i, key, start, end))
            continue
        ids = [i]
        for s in joined:
            sessions[key].remove(s)
            ids += s[2]
        sessions[key].append((start, end, sorted(ids)))
    expected = {(k, s, e): ids for k, ss in sessions.items() for s, e, ids in ss}
    return expected, late


@SETTINGS
@given(windows=sessions, stream=streams(), emit_final=st.booleans())
def test_session_windows_match_reference(windows, stream, emit_final) -> None:
    h, seen = run(windows, emit_final, stream)
    expected, late = session_reference(windows, stream["events"], seen)
    check(h, windows, emit_final, expected, late)
    times = dict(enumerate(ts for _, ts in stream["events"]))
    for (_, start, end), ids in expected.items():
        # Brute-force shape of a session: its records span exactly [start, end] and no two
        # consecutive ones are further apart than the gap.
        ordered = sorted(times[i] for i in ids)
        assert (ordered[0], ordered[-1]) == (start, end)
        assert all(b - a <= windows.gap_ms for a, b in itertools.pairwise(ordered))


@SETTINGS
@given(windows=sessions, stream=streams(max_ts=60), emit_final=st.booleans())
def test_sessions_without_lateness_are_gap_clusters(windows, stream, emit_final) -> None:
    # An out-of-orderness bound wider than the whole stream: nothing closes before the end.
    stream = {**stream, "ooo": 1_000}
    h, _ = run(windows, emit_final, stream)
    assert h.late == []
    by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, (key, ts) in enumerate(stream["events"]):
        by_key[key].append((ts, i))
    expected = {}
    for key, records in by_key.items():
        records.sort()
        cluster = [records[0]]
        for ts, i in records[1:]:
            if ts - cluster[-1][0] > windows.gap_ms:
                expected[key, cluster[0][0], cluster[-1][0]] = sorted(j for _, j in cluster)
                cluster = []
            cluster.append((ts, i))
        expected[key, cluster[0][0], cluster[-1][0]] = sorted(j for _, j in cluster)
    got = h.finals() if emit_final else h.latest()
    assert got == expected
