"""The fraud_fsm example, checked with the broker-free test driver."""

from fraud_fsm import build_app

from kstreamy.testing import TestDriver

T0 = 1_700_000_000.0


def pay(driver: TestDriver, key: str, event: str, at: float) -> None:
    driver.pipe("payments", key, {"event": event, "ts": T0 + at})


def test_a_valid_lifecycle_raises_no_alert():
    driver = TestDriver(build_app())
    for event, at in [("created", 0), ("authorized", 5), ("captured", 60), ("settled", 900)]:
        pay(driver, "p1", event, at)
    pay(driver, "p2", "created", 10)
    pay(driver, "p2", "cancelled", 20)
    pay(driver, "later", "created", 10_000)  # moves the watermark past every deadline
    assert driver.read("payment-alerts") == []
    assert driver.store("payments").items()  # the states are kept


def test_an_invalid_transition_alerts_and_keeps_the_state():
    driver = TestDriver(build_app())
    pay(driver, "p1", "created", 0)
    pay(driver, "p1", "captured", 10)  # not authorized yet
    pay(driver, "p1", "authorized", 20)  # still valid: the state stayed "created"
    pay(driver, "p2", "refunded", 30)  # never created
    pay(driver, "p1", "chargeback", 40)  # an event the machine does not know
    assert driver.read("payment-alerts") == [
        (
            "p1",
            {
                "alert": "invalid_transition",
                "payment": "p1",
                "from": "created",
                "event": "captured",
                "ts": T0 + 10,
            },
        ),
        (
            "p2",
            {
                "alert": "invalid_transition",
                "payment": "p2",
                "from": None,
                "event": "refunded",
                "ts": T0 + 30,
            },
        ),
        (
            "p1",
            {
                "alert": "invalid_transition",
                "payment": "p1",
                "from": "authorized",
                "event": "chargeback",
                "ts": T0 + 40,
            },
        ),
    ]


def test_a_timeout_alerts_only_once_the_watermark_passes_the_deadline():
    driver = TestDriver(build_app())
    pay(driver, "p1", "created", 0)
    pay(driver, "p1", "authorized", 100)  # must be captured by 700
    # The watermark is the largest event time minus 30 s of out-of-orderness.
    pay(driver, "other", "created", 730)  # watermark 700: not past the deadline yet
    assert driver.read("payment-alerts") == []
    pay(driver, "other2", "created", 731)  # watermark 701 > 700
    [record] = driver.records("payment-alerts")
    assert (record.key, record.value) == (
        "p1",
        {
            "alert": "timeout",
            "payment": "p1",
            "state": "authorized",
            "since": T0 + 100,
            "deadline": T0 + 700,
        },
    )
    assert record.timestamp == T0 + 700  # the alert carries the deadline's event time
    pay(driver, "other3", "created", 5000)
    assert driver.read("payment-alerts") == []  # a timer fires once


def test_a_follow_up_in_time_cancels_the_timer():
    driver = TestDriver(build_app())
    pay(driver, "p1", "created", 0)
    pay(driver, "p1", "authorized", 100)
    pay(driver, "p1", "captured", 700)  # exactly at the deadline: in time
    pay(driver, "p1", "settled", 800)
    pay(driver, "other", "created", 10_000)
    assert driver.read("payment-alerts") == []


def test_a_late_follow_up_is_applied_after_one_timeout_alert():
    # Late after the timer fired, and late before the watermark got there: the same alerts.
    for watermark_first in (True, False):
        driver = TestDriver(build_app())
        pay(driver, "p1", "created", 0)
        pay(driver, "p1", "authorized", 100)
        alerts = []
        if watermark_first:
            pay(driver, "other", "created", 740)  # fires the timer at 700
            alerts = driver.read("payment-alerts")
            assert len(alerts) == 1
        pay(driver, "p1", "captured", 705)  # late, but still a capture
        pay(driver, "p1", "settled", 800)  # valid: the capture was applied
        pay(driver, "other2", "created", 10_000)
        alerts += driver.read("payment-alerts")
        assert [(k, v["alert"], v["deadline"]) for k, v in alerts] == [
            ("p1", "timeout", T0 + 700)
        ], watermark_first


def test_a_captured_payment_must_be_settled_within_30_minutes():
    driver = TestDriver(build_app())
    for event, at in [("created", 0), ("authorized", 10), ("captured", 20)]:
        pay(driver, "p1", event, at)
    pay(driver, "p2", "created", 1850)  # watermark 1820: the deadline 1820 is not passed
    assert driver.read("payment-alerts") == []
    pay(driver, "p2", "cancelled", 1851)
    assert [v["state"] for _, v in driver.read("payment-alerts")] == ["captured"]


def test_records_without_event_time_go_to_the_dead_letter_topic():
    driver = TestDriver(build_app())
    driver.pipe_raw("payments", b"p1", b"not json")
    driver.pipe("payments", "p2", {"event": "created"})  # no ts
    stages = [dict(r.headers)["kstreamy.error.stage"] for r in driver.dead_letters]
    assert stages == [b"deserialization", b"processing"]
    assert {r.topic for r in driver.dead_letters} == {"fraud-fsm-dlq"}
    assert driver.read("payment-alerts") == []
