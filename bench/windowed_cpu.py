"""Throughput of the event-time core: a windowed count vs a hand-written dict loop.

    python bench/windowed_cpu.py [--events 1000000] [--keys 1000] [--rounds 7]

No broker: both sides get the same in-memory events (key, key bytes, event time), slightly out
of order. Both keep a watermark (largest time seen minus the out-of-orderness bound), count per
key and 60 s tumbling window, treat records for closed windows as late, and emit each window
once when it closes. kstreamy does it with a PartitionWatermarks observer and a windowed
aggregation over a StoreTransaction on an in-memory store, committing (flush, apply) every
100,000 records: about the exactly-once commit interval (100 ms) at this rate; at-least-once
commits every 5 s. Rates are CPU time; the ratio is the median over rounds of back-to-back runs.
Target: >= 60% of the dict loop's rate.
"""

from __future__ import annotations

import argparse
import random
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kstreamy.runtime.windowed import counting, windowed_aggregation
from kstreamy.state import InMemoryStore, StoreTransaction
from kstreamy.time import PartitionWatermarks
from kstreamy.windows import Tumbling

SIZE_MS = 60_000
OOO_MS = 2_000
COMMIT_EVERY = 100_000
_LONG = struct.Struct(">q")


def make_events(count: int, keys: int, seed: int = 1) -> list[tuple[str, bytes, int]]:
    rng = random.Random(seed)
    names = [f"sensor-{i}" for i in range(keys)]
    encoded = [n.encode() for n in names]
    start = 1_700_000_000_000
    events = []
    for i in range(count):
        k = rng.randrange(keys)
        # 1 ms apart on average, up to 3 s out of order: a few records arrive late.
        events.append((names[k], encoded[k], start + i - rng.randrange(3_000)))
    return events


def dict_loop(events: list[tuple[str, bytes, int]]) -> tuple[int, int]:
    counts: dict[tuple[str, int], int] = {}
    emitted = late = 0
    max_ts = None
    watermark = -(1 << 63)
    next_close = -(1 << 63)
    for key, _, ts in events:
        start = ts - ts % SIZE_MS
        if start + SIZE_MS <= watermark:
            late += 1
        else:
            slot = (key, start)
            counts[slot] = counts.get(slot, 0) + 1
        if max_ts is None or ts > max_ts:
            max_ts = ts
            watermark = ts - OOO_MS
            if watermark >= next_close:
                for slot in [s for s in counts if s[1] + SIZE_MS <= watermark]:
                    counts.pop(slot)
                    emitted += 1
                next_close = min((s[1] + SIZE_MS for s in counts), default=1 << 62)
    return emitted + len(counts), late


def kstreamy_loop(events: list[tuple[str, bytes, int]], emit_final: bool = True) -> tuple[int, int]:
    txn = StoreTransaction(InMemoryStore("counts"), "bench-counts-changelog", 0)
    marks = PartitionWatermarks([("readings", 0)], OOO_MS)
    emitted = []
    late = []
    fold = counting()
    agg = windowed_aggregation(
        txn,
        Tumbling(SIZE_MS / 1000),
        initializer=fold.initializer,
        aggregator=fold.aggregator,
        encode=_LONG.pack,
        decode=lambda raw: _LONG.unpack(raw)[0],
        decode_key=bytes.decode,
        forward=lambda window, value, ts: emitted.append(window),
        on_late=lambda key, value, ts, window, wm: late.append(ts),
        emit_final=emit_final,
    )
    process, on_watermark = agg.process, agg.on_watermark
    observe = marks.observer("readings", 0)
    watermark = marks.current()
    for begin in range(0, len(events), COMMIT_EVERY):
        for key, key_bytes, ts in events[begin : begin + COMMIT_EVERY]:
            process(key, key_bytes, 1, ts, watermark)
            mark = observe(ts)
            if mark != watermark:
                watermark = mark
                on_watermark(mark)
        agg.flush()
        txn.apply()
    agg.on_watermark(1 << 62)
    agg.flush()
    txn.apply()
    return len(set(emitted)), len(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--updates", action="store_true", help="emit every update (default: final results)"
    )
    args = parser.parse_args()
    events = make_events(args.events, args.keys)
    ratios, raw_rates, our_rates = [], [], []
    for _ in range(args.rounds):
        # CPU time of back-to-back runs, and the median of their ratios: the result should
        # not depend on what else the machine happens to run.
        t0 = time.process_time()
        expected = dict_loop(events)
        t1 = time.process_time()
        got = kstreamy_loop(events, emit_final=not args.updates)
        t2 = time.process_time()
        if got != expected:
            raise SystemExit(f"results differ: kstreamy {got}, dict loop {expected}")
        raw_rates.append(len(events) / (t1 - t0))
        our_rates.append(len(events) / (t2 - t1))
        ratios.append((t1 - t0) / (t2 - t1))
    print(f"events: {len(events):,}  keys: {args.keys:,}  windows: {got[0]:,}  late: {got[1]:,}")
    print(f"dict loop: {statistics.median(raw_rates):,.0f} events/s")
    print(f"kstreamy:  {statistics.median(our_rates):,.0f} events/s")
    print(f"ratio:     {statistics.median(ratios):.0%} (median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
