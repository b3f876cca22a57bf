"""Clean raw orders: parse, normalize, enrich with the customer, filter, and keep every record
that does not make it accounted for.

Inputs:

- ``raw-orders`` (key: order id, value: JSON ``{"customer", "amount", "currency"}`` as some
  upstream system wrote it: ``amount`` in major units, as a number or a string; ids and codes in
  any case, with stray spaces);
- ``customers`` (compacted; key: customer id in lower case, value: JSON ``{"name", "country",
  "test"}``; a tombstone deletes the customer).

Every raw order ends up in exactly one place, except orders of test customers, which are
dropped on purpose:

- ``orders-clean`` (key: order id): ``{"order_id", "customer_id", "customer_name", "country",
  "amount_cents", "currency"}``, with the customer id in lower case, the currency an upper-case
  code (EUR, USD or GBP) and the amount in integer cents;
- ``orders-rejected`` (key: order id): ``{"reason", "record"}`` for orders that parse but are
  not valid (no order id, no customer, an amount that is not a positive number of cents, an
  unknown currency: ``record`` is the order as read) or whose customer is not in the table when
  the order is processed (``"unknown customer"``: ``record`` is the normalized order);
- ``streaming-etl-dlq`` (created by the application): records that are not JSON, as read, with
  headers ``kstreamy.error.topic``, ``.partition``, ``.offset`` and the error; a record that
  makes a step raise goes there too, so nothing stops the pipeline or vanishes.

The join looks up the customer's row as it is when the order is processed: load the customers
before the orders that need them (``orders-rejected`` says which orders came too early). Orders
are re-keyed by customer id to meet their customer, through the topic
``streaming-etl-customers-join-repartition`` (as many partitions as ``customers``).

    kstreamy topics create customers --partitions 4 --config cleanup.policy=compact
    kstreamy topics create raw-orders orders-clean orders-rejected --partitions 4
    kstreamy run examples.streaming_etl:app
    kstreamy run examples.streaming_etl:app --state-dir /tmp/etl-2      # a second instance
    printf 'c-7\t{"name": "Ada", "country": "UK", "test": false}\n' |
        kstreamy topics produce customers --app examples.streaming_etl:app
    printf 'o-1\t{"customer": " C-7", "amount": "12.50", "currency": "gbp"}\n' |
        kstreamy topics produce raw-orders --app examples.streaming_etl:app
    kstreamy topics tail orders-clean --app examples.streaming_etl:app
    kstreamy topics tail orders-rejected --app examples.streaming_etl:app
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from kstreamy import App

CURRENCIES = {"EUR", "USD", "GBP"}


class Invalid(ValueError):
    """An order that parsed but cannot be used; the message is the reason given downstream."""


def normalize(order_id: str | None, raw: Any) -> dict[str, Any]:
    """The order in canonical form, or :class:`Invalid` saying why there is none."""
    if not isinstance(raw, dict):
        raise Invalid("not a JSON object")
    if not order_id or not order_id.strip():
        raise Invalid("missing order id")
    customer = raw.get("customer")
    if not isinstance(customer, str) or not customer.strip():
        raise Invalid("missing customer")
    currency = raw.get("currency")
    if not isinstance(currency, str) or currency.strip().upper() not in CURRENCIES:
        raise Invalid("unknown currency")
    return {
        "order_id": order_id.strip(),
        "customer_id": customer.strip().lower(),
        "amount_cents": _cents(raw.get("amount")),
        "currency": currency.strip().upper(),
    }


def _cents(amount: Any) -> int:
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise Invalid("invalid amount")
    try:
        cents = Decimal(str(amount).strip()) * 100
    except InvalidOperation:
        raise Invalid("invalid amount") from None
    if not cents.is_finite() or cents <= 0 or cents != cents.to_integral_value():
        raise Invalid("invalid amount")
    return int(cents)


def validate(order_id: str | None, raw: Any) -> tuple[str | None, dict[str, Any]]:
    """``{"order": ...}`` for a usable order, ``{"reason", "record"}`` for a rejected one."""
    try:
        return order_id, {"order": normalize(order_id, raw)}
    except Invalid as exc:
        return order_id, {"reason": str(exc), "record": raw}


def with_customer(order: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any]:
    return {**order, "customer": customer}


def clean(order: dict[str, Any]) -> dict[str, Any]:
    customer = order["customer"]
    return {
        "order_id": order["order_id"],
        "customer_id": order["customer_id"],
        "customer_name": customer.get("name"),
        "country": customer.get("country"),
        "amount_cents": order["amount_cents"],
        "currency": order["currency"],
    }


def unknown_customer(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "reason": "unknown customer",
        "record": {k: v for k, v in order.items() if k != "customer"},
    }


def build_app(suffix: str = "", **settings: Any) -> App:
    """The application; ``suffix`` goes after its id and topic names, so that several copies
    (a staging run, a test) can share one broker."""
    settings = {
        "on_deserialization_error": "dead_letter",
        "on_processing_error": "dead_letter",
        **settings,
    }
    app = App(f"streaming-etl{suffix}", **settings)
    rejected = f"orders-rejected{suffix}"
    customers = app.table(
        f"customers{suffix}", name="customers", key_serde="str", value_serde="json"
    )
    checked = (
        app.stream(f"raw-orders{suffix}", key_serde="str", value_serde="json")
        .map(validate, name="validate")
        .split(name="checked")
        .branch(lambda order_id, v: "reason" in v, name="invalid")
        .default_branch(name="valid")
    )
    checked["invalid"].to(rejected)
    enriched = (
        checked["valid"]
        .map(lambda order_id, v: (v["order"]["customer_id"], v["order"]), name="by-customer")
        .left_join(customers, with_customer, name="customers-join")
        .map(lambda customer_id, order: (order["order_id"], order), name="by-order")
        .split(name="enriched")
        .branch(lambda order_id, order: order["customer"] is None, name="unknown")
        .default_branch(name="known")
    )
    enriched["unknown"].map_values(unknown_customer, name="unknown-customer").to(rejected)
    (
        enriched["known"]
        # The one deliberate drop: orders of test accounts never reach the clean topic.
        .filter_not(lambda order_id, order: bool(order["customer"].get("test")), name="no-tests")
        .map_values(clean, name="clean")
        .to(f"orders-clean{suffix}")
    )
    return app


app = build_app()
