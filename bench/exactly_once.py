"""Exactly-once throughput as a ratio of at-least-once, same pipeline, 100 ms commit interval.

    python bench/exactly_once.py [--events 300000] [--rounds 5] [--bootstrap-servers host:port]

The pipeline counts events per sensor (a changelog-backed store) and writes a stateless branch
(readings above a threshold) to a second topic. Both runs read the same input in the same
process session; only ``processing_guarantee`` differs. Target: exactly-once >= 90%.
"""

from __future__ import annotations

import logging
import tempfile
import uuid

from common import (
    arguments,
    broker,
    input_topic,
    median_rates,
    new_topic,
    report,
    sensor_events,
    time_app,
)

from kstreamy import App

COMMIT_INTERVAL_MS = 100


def run(bootstrap: str, source: str, events: int, guarantee: str) -> float:
    app = App(
        f"bench-{guarantee.replace('_', '-')}-{uuid.uuid4().hex[:6]}",
        bootstrap_servers=bootstrap,
        processing_guarantee=guarantee,
        commit_interval_ms=COMMIT_INTERVAL_MS,
        session_timeout_ms=6000,
        max_poll_interval_ms=10000,
        state_dir=tempfile.mkdtemp(prefix="kstreamy-bench-"),
    )
    readings = app.stream(source, key_serde="str", value_serde="json")
    readings.group_by_key().count(store="per-sensor").to(
        new_topic(bootstrap, "bench-eos-counts"), value_serde="int"
    )
    readings.filter(lambda key, event: (event["value"] or 0) > 40).to(
        new_topic(bootstrap, "bench-eos-hot")
    )
    return time_app(app, events)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 300_000)
    logging.basicConfig(level=logging.WARNING)
    with broker(args.bootstrap_servers) as bootstrap:
        source = input_topic(bootstrap, sensor_events(args.events), "bench-eos-in")
        medians = median_rates(
            args.rounds,
            {
                guarantee: lambda g=guarantee: run(bootstrap, source, args.events, g)
                for guarantee in ("at_least_once", "exactly_once")
            },
        )
    print(f"medians of {args.rounds} rounds:")
    report("exactly_once", medians["exactly_once"], "at_least_once", medians["at_least_once"], 0.90)


if __name__ == "__main__":
    main()
