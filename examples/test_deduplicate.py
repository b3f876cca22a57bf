from deduplicate import app

from kstreamy.testing import TestDriver


def test_each_event_id_passes_once_per_account():
    driver = TestDriver(app)
    driver.pipe("payments", "acct-1", {"id": "p1", "amount": 5}, timestamp=10.0)
    driver.pipe("payments", "acct-1", {"id": "p1", "amount": 5}, timestamp=11.0)  # a repeat
    driver.pipe("payments", "acct-2", {"id": "p1", "amount": 7}, timestamp=12.0)  # other account
    driver.pipe("payments", "acct-1", {"id": "p2", "amount": 1}, timestamp=13.0)
    assert driver.read("payments-unique") == [
        ("acct-1", {"id": "p1", "amount": 5}),
        ("acct-2", {"id": "p1", "amount": 7}),
        ("acct-1", {"id": "p2", "amount": 1}),
    ]
