"""Enrich clicks with the user's profile (a stream-table join) and count clicks per country.

    kstreamy topics create users --partitions 4 --config cleanup.policy=compact
    kstreamy topics create clicks clicks-enriched clicks-per-country --partitions 4
    kstreamy run examples.click_enrichment:app

Inputs: ``users`` (compacted; key: user id, value: JSON profile, a tombstone deletes the user)
and ``clicks`` (key: user id, value: JSON click). Both must have the same number of partitions
and be keyed by user id: a task joins partition N of ``clicks`` with partition N of ``users``,
and kstreamy keeps both on the same instance.

Outputs: ``clicks-enriched`` (every click with its user's country, ``"unknown"`` when the user is
not known yet) and ``clicks-per-country`` (running count per country).
"""

from __future__ import annotations

from typing import Any

from kstreamy import App

app = App("click-enrichment")

users = app.table("users", name="users", key_serde="str", value_serde="json")


def with_country(click: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    return {**click, "country": user["country"] if user else "unknown"}


enriched = app.stream("clicks", key_serde="str", value_serde="json").left_join(users, with_country)
enriched.to("clicks-enriched")

(
    enriched.group_by(lambda user_id, click: click["country"], name="by-country", key_serde="str")
    .count(store="clicks-per-country")
    .to("clicks-per-country", value_serde="int")
)
