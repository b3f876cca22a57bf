"""Stream-stream joins against a brute-force reference, over random out-of-order inputs.

The reference knows nothing of stores or closing: after every record it computes, from all
records accepted so far, every pair within the window and every unmatched record whose window
the watermark has closed. The join's output so far must be exactly that, after every record:
no result missing, none repeated, no unmatched result early or for a record that joined.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from kstreamy import App
from kstreamy.testing import TestDriver
from kstreamy.time.watermarks import NO_WATERMARK
from kstreamy.windows import JoinWindows

Event = tuple[str, str, int, str]  # side, key, time (ms), record id


def _reference(
    accepted: list[Event], window: JoinWindows, how: str, watermark: int
) -> Counter[tuple[str, str, int]]:
    out: Counter[tuple[str, str, int]] = Counter()
    lefts = [e for e in accepted if e[0] == "left"]
    rights = [e for e in accepted if e[0] == "right"]
    matched: set[str] = set()
    for _, key, lt, lid in lefts:
        for _, rkey, rt, rid in rights:
            if rkey == key and lt - window.before_ms <= rt <= lt + window.after_ms:
                out[(key, f"{lid}-{rid}", max(lt, rt))] += 1
                matched.update((lid, rid))
    if how in ("left", "outer"):
        for _, key, lt, lid in lefts:
            if lid not in matched and window.close_time(lt, left=True) <= watermark:
                out[(key, f"{lid}-None", lt)] += 1
    if how == "outer":
        for _, key, rt, rid in rights:
            if rid not in matched and window.close_time(rt, left=False) <= watermark:
                out[(key, f"None-{rid}", rt)] += 1
    return out


@st.composite
def scenarios(draw):
    before = draw(st.integers(-3, 6))
    after = draw(st.integers(max(-3, -before), 6))
    window = JoinWindows(before=before / 2, after=after / 2, grace=draw(st.integers(0, 4)) / 2)
    # Times on a 500 ms grid, some a millisecond off it: boundaries are hit exactly and missed
    # by one, from both sides.
    raw = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["left", "right"]),
                st.sampled_from("ab"),
                st.integers(0, 40),
                st.sampled_from([0, 0, 0, -1, 1]),
            ),
            min_size=1,
            max_size=30,
        )
    )
    events = [
        (side, key, max(0, half * 500 + nudge), f"{side[0]}{i}")
        for i, (side, key, half, nudge) in enumerate(raw)
    ]
    # Finally both inputs far ahead, so every window closes.
    events += [("left", "z", 100_000, "lz"), ("right", "z", 100_000, "rz")]
    how = draw(st.sampled_from(["inner", "left", "outer"]))
    out_of_orderness = draw(st.integers(0, 3)) / 2
    return window, how, out_of_orderness, events


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_the_join_matches_the_brute_force_reference_after_every_record(scenario):
    window, how, out_of_orderness, events = scenario
    app = App("prop")
    left = app.stream(
        "left", key_serde="str", value_serde="str", max_out_of_orderness=out_of_orderness
    )
    right = app.stream(
        "right", key_serde="str", value_serde="str", max_out_of_orderness=out_of_orderness
    )
    left.join(right, lambda a, b: f"{a}-{b}", how, name="j", window=window).to("out")
    driver = TestDriver(app)

    ooo_ms = int(out_of_orderness * 1000)
    highest: dict[str, int] = {}
    watermark = NO_WATERMARK
    accepted: list[Event] = []
    produced: Counter[tuple[str, str, int]] = Counter()
    for event in events:
        side, key, ts, record_id = event
        if ts >= watermark - window.grace_ms:
            accepted.append(event)
        highest[side] = max(highest.get(side, ts), ts)
        if len(highest) == 2:
            watermark = max(watermark, min(highest.values()) - ooo_ms)

        # Times in seconds are rounded to the nearest millisecond (1.001 * 1000 is 1000.999...).
        driver.pipe(side, key, record_id, timestamp=ts / 1000)
        for record in driver.records("out"):
            produced[(record.key, record.value, round(record.timestamp * 1000))] += 1
        assert produced == _reference(accepted, window, how, watermark), event
    late = len(events) - len(accepted)
    assert driver.metrics.late_records_dropped == late
