"""The soak's targets, judged from its samples, and the summary printed at the end.

Growth is judged on the steady instance (slot ``a``, one process for the whole run): RSS from
the sample at the warm-up point (minute 5, or a sixth of a shorter run) to the last sample must
grow by less than 10%; open files and threads must not grow. The tasks an instance runs (each
with its store files and clients' connections) change with every fault elsewhere, so "no
growth" means: the median of the last three samples is not above the highest count seen in the
first half of the time after warm-up. A leak grows without bound and fails that over a long
run; an instance that merely holds more tasks at the end than at warm-up does not. RSS follows
the issue's definition (warm-up sample to last sample) and the task counts at both ends are
shown next to it. The restarted slots have a new process per generation, so only their latest
figures and peaks are shown.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

RSS_GROWTH_LIMIT = 0.10
LAG_ZERO_LIMIT_S = 30.0


@dataclass
class Sample:
    t: float
    """Seconds since the instances were started."""
    sent: int
    lag: int | None
    instances: dict[str, dict[str, Any]]
    """Slot -> {"name", "pid", "tasks", "rss_mb", "fds", "store_fds", "threads", "store_mb",
    "rocksdb_log_mb"} (process fields None while the slot's process is gone)."""


@dataclass
class Outcome:
    minutes: float
    warmup_s: float
    samples: list[Sample]
    input_stopped_at: float | None = None
    lag_zero_after_s: float | None = None
    total_inputs: int = 0
    output_problems: dict[str, list[str]] = field(default_factory=dict)
    fleet_problems: list[str] = field(default_factory=list)
    faults: dict[str, dict[str, int]] = field(default_factory=dict)


def _series(samples: list[Sample], slot: str, what: str, pid: int) -> list[float]:
    return [
        s.instances[slot][what]
        for s in samples
        if s.instances[slot].get("pid") == pid and s.instances[slot].get(what) is not None
    ]


def _outside(figures: dict[str, Any]) -> float:
    """RSS less what RocksDB's block cache and memtables hold (bounded by state_memory_bytes;
    the cache fills up to its bound over time even when little state is live)."""
    return figures["rss_mb"] - (figures.get("store_memory_mb") or 0.0)


WARM_WINDOW_S = 60.0
"""The warm-up RSS is the median of the samples in this long after the warm-up point."""


def _value(figures: dict[str, Any], what: str) -> float:
    """A sampled figure; ``other_fds`` is the descriptors that are not store files."""
    if what == "other_fds":
        return figures["fds"] - (figures.get("store_fds") or 0)
    return figures.get(what) or 0


def steady_figures(outcome: Outcome, slot: str) -> dict[str, Any]:
    """RSS at warm-up and at the end and growth, fds and threads at both, for one process."""
    samples = outcome.samples
    last = samples[-1].instances[slot]
    pid = last.get("pid")
    mine = [
        s
        for s in samples
        if s.instances[slot].get("pid") == pid and s.instances[slot].get("rss_mb")
    ]
    after = [s for s in mine if s.t >= outcome.warmup_s]
    if not after or len(mine) < 3:
        return {"judged": False}
    first_half_end = after[0].t + (mine[-1].t - after[0].t) / 2
    first_half = [s for s in after if s.t <= first_half_end]
    figures: dict[str, Any] = {"judged": True, "pid": pid}
    # The warm-up figure is the median over the minute after the warm-up point: one sample
    # can fall on a rebalance, when the instance briefly holds more tasks and memory.
    warm_minute = [s.instances[slot] for s in after if s.t < after[0].t + WARM_WINDOW_S]
    rss_warm = statistics.median(i["rss_mb"] for i in warm_minute)
    outside_warm = statistics.median(_outside(i) for i in warm_minute)
    warm, end = after[0].instances[slot], mine[-1].instances[slot]
    figures.update(
        rss_warm=rss_warm,
        rss_end=end["rss_mb"],
        rss_growth=(end["rss_mb"] - rss_warm) / rss_warm,
        rss_growth_outside_rocksdb=_outside(end) - outside_warm,
        tasks_warm=warm.get("tasks"),
        tasks_end=end.get("tasks"),
    )
    for what in ("fds", "threads", "store_fds", "other_fds"):
        figures[f"{what}_warm"] = max(_value(s.instances[slot], what) for s in first_half)
        last_three = [_value(s.instances[slot], what) for s in mine[-3:]]
        figures[f"{what}_end"] = statistics.median(last_three)
    figures["rss_peak"] = max(_series(samples, slot, "rss_mb", pid))
    return figures


def judge(outcome: Outcome) -> list[str]:
    """Missed targets, one line each; empty when every target is met."""
    missed = []
    for output, problems in outcome.output_problems.items():
        if problems:
            missed.append(f"{output}: output not exact ({len(problems)} differences)")
    steady = steady_figures(outcome, "a")
    if not steady["judged"]:
        missed.append("steady instance: too few samples of one process to judge growth")
    else:
        if steady["rss_growth"] >= RSS_GROWTH_LIMIT:
            missed.append(f"steady instance: RSS grew {steady['rss_growth']:.1%} after warm-up")
        # Store files (SST, log, manifest) come and go with the data and compactions; every
        # other descriptor (sockets, pipes, other files) must not grow.
        for what in ("other_fds", "threads"):
            if steady[f"{what}_end"] > steady[f"{what}_warm"]:
                grew = f"{steady[f'{what}_warm']:g} -> {steady[f'{what}_end']:g}"
                missed.append(f"steady instance: {what} grew {grew} (first-half max -> end)")
    if outcome.lag_zero_after_s is None:
        missed.append("lag did not return to 0 after the input stopped")
    elif outcome.lag_zero_after_s > LAG_ZERO_LIMIT_S:
        missed.append(
            f"lag back to 0 only {outcome.lag_zero_after_s:.1f} s after the input stopped"
        )
    missed += outcome.fleet_problems
    return missed


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


HEADER = ("slot", "process", "tasks", "RSS warm", "RSS end", "growth", "excl. RocksDB", "RSS peak")
HEADER += ("fds", "of them store files")
HEADER += ("threads", "store MB", "of it LOG", "kills", "wipes", "stops")


def _row(outcome: Outcome, slot: str) -> list[str]:
    """One slot's line: the judged figures for a process that ran throughout, else its
    latest process and peaks."""
    samples = outcome.samples
    faults = outcome.faults.get(slot, {})
    store_warm = next(
        (s.instances[slot]["store_mb"] for s in samples if s.t >= outcome.warmup_s), None
    )
    store = f"{_fmt(store_warm, '.1f')} -> {_fmt(samples[-1].instances[slot]['store_mb'], '.1f')}"
    logs = _fmt(samples[-1].instances[slot].get("rocksdb_log_mb"), ".1f")
    counts = [str(faults.get(k, 0)) for k in ("kills", "wipes", "stops")]
    f = steady_figures(outcome, slot)
    if f["judged"] and not faults.get("kills") and not faults.get("stops"):
        return [
            slot,
            f"pid {f['pid']}",
            f"{_fmt(f['tasks_warm'])} -> {_fmt(f['tasks_end'])}",
            f"{f['rss_warm']:.1f}M",
            f"{f['rss_end']:.1f}M",
            f"{f['rss_growth']:+.1%}",
            f"{f['rss_growth_outside_rocksdb']:+.1f}M",
            f"{f['rss_peak']:.1f}M",
            f"{f['fds_warm']:g} -> {f['fds_end']:g}",
            f"{f['store_fds_warm']:g} -> {f['store_fds_end']:g}",
            f"{f['threads_warm']:g} -> {f['threads_end']:g}",
            store,
            logs,
            *counts,
        ]
    last = samples[-1].instances[slot]
    peak = max((s.instances[slot].get("rss_mb") or 0 for s in samples), default=0)
    return [
        slot,
        f"{last.get('name')} (restarted)",
        _fmt(last.get("tasks")),
        "-",
        f"{_fmt(last.get('rss_mb'), '.1f')}M",
        "-",
        "-",
        f"{peak:.1f}M",
        _fmt(last.get("fds")),
        _fmt(last.get("store_fds")),
        _fmt(last.get("threads")),
        store,
        logs,
        *counts,
    ]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]


def summary(outcome: Outcome) -> str:
    """The table printed at the end of a run."""
    lines = [
        f"soak: {outcome.minutes:g} min, {outcome.total_inputs} inputs, "
        f"warm-up point {outcome.warmup_s:.0f} s, {len(outcome.samples)} samples",
        "",
    ]
    if outcome.samples:
        slots = list(outcome.samples[-1].instances)
        lines += _table([list(HEADER)] + [_row(outcome, slot) for slot in slots])
    lags = [s.lag for s in outcome.samples if s.lag is not None]
    lines += [
        "",
        f"lag: max {max(lags, default=0)} records; back to 0 "
        f"{_fmt(outcome.lag_zero_after_s, '.1f')} s after the input stopped "
        f"(target <= {LAG_ZERO_LIMIT_S:g} s)",
    ]
    for output, problems in outcome.output_problems.items():
        verdict = "exact: yes" if not problems else f"exact: NO, {len(problems)} differences"
        lines.append(f"{output:<8} {verdict}")
        lines += [f"           {p}" for p in problems[:10]]
    missed = judge(outcome)
    lines.append("")
    lines.append("targets: all met" if not missed else "targets missed:")
    lines += [f"  - {m}" for m in missed]
    return "\n".join(lines)
