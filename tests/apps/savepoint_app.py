"""A stateful pipeline for savepoint tests: count and sum per key, and counts per bucket after a
repartition.

``version`` picks a code variant: "v1"; "v1-extra-step" (new stateless steps, same stores);
"v2-buggy" (sums ten times too large); "v2-json-counts" (counts kept as JSON: an incompatible
store format); "v2-no-buckets" (the bucket counts are gone).
"""

from __future__ import annotations

from typing import Any

from app_params import app_settings, params

from kstreamy import App


def bucket(key: str, value: dict[str, Any]) -> str:
    return f"b{value['n'] % 7}"


def build_app() -> App:
    p = params()
    app = App(p["app_id"], **app_settings(p))
    version = p.get("version", "v1")
    stream = app.stream(p["input"], key_serde="str", value_serde="json")
    if version == "v1-extra-step":
        stream = stream.filter(lambda key, value: value is not None, name="new-check").map_values(
            lambda value: {**value, "checked": True}, name="annotate"
        )
    factor = 10 if version == "v2-buggy" else 1
    grouped = stream.group_by_key()
    if version == "v2-json-counts":
        counts = grouped.aggregate(lambda: 0, lambda key, value, n: n + 1, store="counts")
    else:
        counts = grouped.count(store="counts")
    counts.to(p["counts"], value_serde="int")
    grouped.aggregate(
        lambda: 0, lambda key, value, total: total + value["n"] * factor, store="sums"
    ).to(p["sums"], value_serde="json")
    if version == "v2-no-buckets":
        return app
    group_options = {"partitions": p["bucket_partitions"]} if p.get("bucket_partitions") else {}
    (
        stream.group_by(bucket, name="buckets", key_serde="str", **group_options)
        .count(store="bucket-counts")
        .to(p["buckets"], value_serde="int")
    )
    return app
