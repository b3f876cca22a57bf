"""The streaming_etl example, checked with the broker-free test driver."""

from streaming_etl import build_app

from kstreamy.testing import TestDriver


def driver_with_customers() -> TestDriver:
    driver = TestDriver(build_app())
    driver.pipe("customers", "c-1", {"name": "Ada", "country": "UK", "test": False})
    driver.pipe("customers", "c-2", {"name": "QA bot", "country": "DE", "test": True})
    return driver


def test_orders_are_normalized_and_enriched():
    driver = driver_with_customers()
    driver.pipe("raw-orders", "o-1", {"customer": " C-1 ", "amount": "12.50", "currency": "gbp"})
    driver.pipe("raw-orders", "o-2", {"customer": "c-1", "amount": 3, "currency": "EUR"})
    assert driver.read("orders-clean") == [
        (
            "o-1",
            {
                "order_id": "o-1",
                "customer_id": "c-1",
                "customer_name": "Ada",
                "country": "UK",
                "amount_cents": 1250,
                "currency": "GBP",
            },
        ),
        (
            "o-2",
            {
                "order_id": "o-2",
                "customer_id": "c-1",
                "customer_name": "Ada",
                "country": "UK",
                "amount_cents": 300,
                "currency": "EUR",
            },
        ),
    ]
    assert driver.read("orders-rejected") == []


def test_orders_of_test_customers_are_dropped():
    driver = driver_with_customers()
    driver.pipe("raw-orders", "o-1", {"customer": "C-2", "amount": 1, "currency": "usd"})
    assert driver.read("orders-clean") == []
    assert driver.read("orders-rejected") == []
    assert driver.dead_letters == []


def test_invalid_orders_are_rejected_with_the_reason():
    driver = driver_with_customers()
    cases = [
        ("o-1", ["not", "an", "object"], "not a JSON object"),
        (None, {"customer": "c-1", "amount": 1, "currency": "EUR"}, "missing order id"),
        ("o-3", {"amount": 1, "currency": "EUR"}, "missing customer"),
        ("o-4", {"customer": "c-1", "amount": "1.234", "currency": "EUR"}, "invalid amount"),
        ("o-5", {"customer": "c-1", "amount": -5, "currency": "EUR"}, "invalid amount"),
        ("o-6", {"customer": "c-1", "amount": "ten", "currency": "EUR"}, "invalid amount"),
        ("o-7", {"customer": "c-1", "amount": True, "currency": "EUR"}, "invalid amount"),
        ("o-8", {"customer": "c-1", "amount": 1, "currency": "XYZ"}, "unknown currency"),
    ]
    for key, value, _ in cases:
        driver.pipe("raw-orders", key, value)
    assert driver.read("orders-rejected") == [
        (key, {"reason": reason, "record": value}) for key, value, reason in cases
    ]
    assert driver.read("orders-clean") == []


def test_orders_of_unknown_customers_are_rejected():
    driver = driver_with_customers()
    driver.pipe("raw-orders", "o-1", {"customer": "c-9", "amount": 1, "currency": "EUR"})
    driver.pipe("customers", "c-1", None)  # deleted
    driver.pipe("raw-orders", "o-2", {"customer": "c-1", "amount": 2, "currency": "EUR"})
    assert [
        (k, v["reason"], v["record"]["customer_id"]) for k, v in driver.read("orders-rejected")
    ] == [("o-1", "unknown customer", "c-9"), ("o-2", "unknown customer", "c-1")]
    assert driver.read("orders-clean") == []


def test_records_that_are_not_json_go_to_the_dead_letter_topic():
    driver = driver_with_customers()
    driver.pipe_raw("raw-orders", b"o-1", b'{"customer": "c-1", "amount": 1', partition=0)
    [dead] = driver.dead_letters
    headers = dict(dead.headers)
    assert dead.topic == "streaming-etl-dlq"
    assert (dead.raw_key, dead.raw_value) == (b"o-1", b'{"customer": "c-1", "amount": 1')
    assert headers["kstreamy.error.stage"] == b"deserialization"
    assert headers["kstreamy.error.topic"] == b"raw-orders"
    assert (headers["kstreamy.error.partition"], headers["kstreamy.error.offset"]) == (b"0", b"0")
    assert driver.read("orders-clean") == [] and driver.read("orders-rejected") == []
