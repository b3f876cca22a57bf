"""Errors a new user meets first say what to do next."""

from kstreamy.errors import BrokerUnreachableError, MissingTopicError


def test_a_missing_input_topic_says_how_to_create_it():
    message = str(MissingTopicError(["orders", "clicks"], "127.0.0.1:9092"))
    assert "not found on 127.0.0.1:9092: clicks, orders" in message
    assert "`kstreamy topics create clicks orders --partitions N`" in message


def test_an_unreachable_broker_names_where_its_address_came_from():
    from_env = str(BrokerUnreachableError("kafka:9092", "KSTREAMY_BOOTSTRAP_SERVERS", 5, "boom"))
    assert "(bootstrap_servers, from KSTREAMY_BOOTSTRAP_SERVERS) within 5s: boom" in from_env
    by_default = str(BrokerUnreachableError("localhost:9092", "default", 15, "no answer"))
    assert "(bootstrap_servers) within 15s: no answer" in by_default
