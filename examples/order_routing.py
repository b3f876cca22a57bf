"""Route orders by region, drop test orders, and dead-letter what cannot be parsed.

Input: topic ``orders`` (key: order id, value: JSON ``{"region", "amount_cents", "test"}``).
Output: ``orders-eu``, ``orders-us`` and ``orders-other`` with the amount in units added.
Records that are not JSON go to ``order-routing-dlq`` (created by the application). Run one
instance, and more (here with their own ``--state-dir``) to scale out:

    kstreamy broker &                       # or point at your Kafka
    export KSTREAMY_BOOTSTRAP_SERVERS=127.0.0.1:<port>
    kstreamy topics create orders orders-eu orders-us orders-other --partitions 6
    kstreamy run examples.order_routing:app
    printf 'o-1\t{"region": "eu", "amount_cents": 1250}\n' |
        kstreamy topics produce orders --app examples.order_routing:app
    kstreamy topics tail orders-eu --app examples.order_routing:app
"""

from __future__ import annotations

from typing import Any

from kstreamy import App


def is_real(order_id: str, order: dict[str, Any]) -> bool:
    return not order.get("test", False)


def with_amount(order: dict[str, Any]) -> dict[str, Any]:
    return {**order, "amount": order["amount_cents"] / 100}


app = App("order-routing", on_deserialization_error="dead_letter")

regions = (
    app.stream("orders", key_serde="str", value_serde="json")
    .filter(is_real)
    .map_values(with_amount)
    .split()
    .branch(lambda order_id, order: order["region"] == "eu", name="eu")
    .branch(lambda order_id, order: order["region"] == "us", name="us")
    .default_branch(name="other")
)
for region, stream in regions.items():
    stream.to(f"orders-{region}")
