"""Check that every payment follows its lifecycle, and alert on what does not.

Each payment (the record key) must go through a state machine::

    created -> authorized -> captured -> settled -> refunded
       |            |            |
       v            v            v
    cancelled     voided      refunded

An event the machine does not allow in the payment's current state (a capture before any
authorization, a second settlement, an unknown event) raises an ``invalid_transition`` alert
naming the payment, the state it was in, the event and its event time; the state stays as it
was. A payment that stays ``authorized`` for more than 10 minutes of event time (neither
captured nor voided), or ``captured`` for more than 30 minutes (not settled or refunded), raises
a ``timeout`` alert through an event-time timer, once the watermark passes the deadline.

Input: topic ``payments`` (key: payment id, value: JSON ``{"event": ..., "ts": <epoch
seconds>}``; event time is ``ts``, events may arrive up to 30 s out of order). Output:
``payment-alerts`` (key: payment id, value: JSON alert). Records that are not JSON, or have no
usable ``ts``, go to ``fraud-fsm-dlq`` (created by the application).

    kstreamy topics create payments payment-alerts --partitions 4
    kstreamy run examples.fraud_fsm:app
    kstreamy run examples.fraud_fsm:app --state-dir /tmp/fraud-2      # a second instance
    printf 'p-1\t{"event": "created", "ts": 1700000000}\n' |
        kstreamy topics produce payments --app examples.fraud_fsm:app
    printf 'p-1\t{"event": "captured", "ts": 1700000030}\n' |
        kstreamy topics produce payments --app examples.fraud_fsm:app
    kstreamy topics tail payment-alerts --app examples.fraud_fsm:app

Timers fire when the task's watermark passes them, and a task's watermark is the smallest over
its input partitions (largest ``ts`` seen minus 30 s): a timeout is reported once every
partition of the task has seen a later event. A follow-up that arrives after its deadline is
still applied; its timeout is reported exactly once, by the timer or, if the follow-up comes
first, when the follow-up is processed, so the alerts do not depend on how records were
batched or spread over instances. A payment's state is kept (in the changelogged store
``payments``) after it reached a final state, so that events after the end are reported too.
"""

from __future__ import annotations

from typing import Any

from kstreamy import App, ProcessFunction
from kstreamy.processor import ProcessorContext

# (state, event) -> next state; None is a payment not seen before.
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "created"): "created",
    ("created", "authorized"): "authorized",
    ("created", "cancelled"): "cancelled",
    ("authorized", "captured"): "captured",
    ("authorized", "voided"): "voided",
    ("captured", "settled"): "settled",
    ("captured", "refunded"): "refunded",
    ("settled", "refunded"): "refunded",
}

# State -> seconds of event time within which the payment must leave it.
TIMEOUTS: dict[str, float] = {"authorized": 600.0, "captured": 1800.0}

MAX_OUT_OF_ORDERNESS = 30.0


class PaymentLifecycle(ProcessFunction):
    """Keeps each payment's state (``{"state", "since", "timed_out"}``) and one event-time
    timer for the deadline of the state it is in, if that state has one."""

    def process(self, key: Any, value: Any, ctx: ProcessorContext) -> None:
        entry = ctx.value_state("payments", "fsm")
        current = entry.get() or {"state": None, "since": None, "timed_out": False}
        deadline = _deadline(current)
        if deadline is not None and not current["timed_out"] and ctx.timestamp > deadline:
            # Past its deadline, whether or not the watermark got there first: report now
            # (at the deadline's time), so a late follow-up gives the same alerts either way.
            ctx.timers.delete_event_time(deadline)
            ctx.emit(key, _timeout(key, current, deadline), timestamp=deadline)
            current = {**current, "timed_out": True}
            entry.set(current)
        event = value.get("event") if isinstance(value, dict) else None
        nxt = TRANSITIONS.get((current["state"], event)) if isinstance(event, str) else None
        if nxt is None:
            ctx.emit(
                key,
                {
                    "alert": "invalid_transition",
                    "payment": key,
                    "from": current["state"],
                    "event": event,
                    "ts": ctx.timestamp,
                },
            )
            return
        if deadline is not None and not current["timed_out"]:
            ctx.timers.delete_event_time(deadline)  # left the state in time
        entry.set({"state": nxt, "since": ctx.timestamp, "timed_out": False})
        if nxt in TIMEOUTS:
            ctx.timers.register_event_time(ctx.timestamp + TIMEOUTS[nxt])

    def on_timer(self, timestamp: float, ctx: ProcessorContext) -> None:
        entry = ctx.value_state("payments", "fsm")
        current = entry.get()
        if current is None or current["timed_out"] or _ms(_deadline(current)) != _ms(timestamp):
            return  # not the deadline of the state the payment is in (defensive)
        ctx.emit(ctx.key, _timeout(ctx.key, current, timestamp))
        entry.set({**current, "timed_out": True})


def _deadline(entry: dict[str, Any]) -> float | None:
    limit = TIMEOUTS.get(entry["state"]) if entry["state"] is not None else None
    return None if limit is None else entry["since"] + limit


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _timeout(key: str, entry: dict[str, Any], deadline: float) -> dict[str, Any]:
    return {
        "alert": "timeout",
        "payment": key,
        "state": entry["state"],
        "since": entry["since"],
        "deadline": deadline,
    }


def event_time(key: Any, value: Any, record_ts: float) -> float:
    return value["ts"]


def build_app(suffix: str = "", **settings: Any) -> App:
    """The application; ``suffix`` goes after its id and topic names, so that several copies
    (a staging run, a test) can share one broker."""
    settings = {
        "on_deserialization_error": "dead_letter",
        "on_processing_error": "dead_letter",
        **settings,
    }
    app = App(f"fraud-fsm{suffix}", **settings)
    (
        app.stream(
            f"payments{suffix}",
            key_serde="str",
            value_serde="json",
            timestamp=event_time,
            max_out_of_orderness=MAX_OUT_OF_ORDERNESS,
        )
        .process(PaymentLifecycle(), stores=["payments"], name="payment-lifecycle")
        .to(f"payment-alerts{suffix}", key_serde="str", value_serde="json")
    )
    return app


app = build_app()
