"""The order-routing example, checked with the broker-free test driver."""

from order_routing import app

from kstreamy.testing import TestDriver


def test_orders_are_routed_by_region_and_test_orders_dropped():
    driver = TestDriver(app)
    driver.pipe("orders", "o1", {"region": "eu", "amount_cents": 1250})
    driver.pipe("orders", "o2", {"region": "us", "amount_cents": 99, "test": True})
    driver.pipe("orders", "o3", {"region": "us", "amount_cents": 500})
    driver.pipe("orders", "o4", {"region": "apac", "amount_cents": 1})
    assert driver.read("orders-eu") == [
        ("o1", {"region": "eu", "amount_cents": 1250, "amount": 12.5})
    ]
    assert [k for k, _ in driver.read("orders-us")] == ["o3"]
    assert [k for k, _ in driver.read("orders-other")] == ["o4"]


def test_malformed_orders_go_to_the_dead_letter_topic():
    driver = TestDriver(app)
    driver.pipe_raw("orders", b"o9", b"<xml/>")
    [dead] = driver.dead_letters
    assert dead.topic == "order-routing-dlq"
    assert dead.raw_value == b"<xml/>"
    assert dict(dead.headers)["kstreamy.error.stage"] == b"deserialization"
