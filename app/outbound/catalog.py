"""The event types a merchant can subscribe to: the one list that validation (a 422 naming
them) and the OpenAPI `webhooks` section read. A type written anywhere must be listed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ANY_TYPE = "*"
# Sent to one endpoint on request (POST .../test), never fanned out by subscription.
TEST_TYPE = "endpoint.test"
DISABLED_TYPE = "endpoint.disabled"


@dataclass(frozen=True, slots=True)
class EventType:
    summary: str
    example: dict[str, Any]
    about_a_plan: bool = True


_INSTALLMENT_REMINDER = {
    "installment_id": "01a2067f-2222-7efe-9292-8631ea0efaa2",
    "sequence": 1,
    "due_date": "2026-12-15",
    "amount_due": 10000,
}

EVENT_TYPES: dict[str, EventType] = {
    "plan.created": EventType(
        "A plan was created (pending, or active at once when nothing is due first).",
        {"status": "pending", "amount": 40000, "currency": "USD"},
    ),
    "plan.activated": EventType("The plan became active (deposit paid, agreement signed).", {}),
    "agreement.accepted": EventType(
        "The customer accepted the plan's agreement; the SHA-256 of the exact document.",
        {"signer_name": "Ada Lovelace", "document_sha256": "9f86d081884c7d65..."},
    ),
    "payment.applied": EventType(
        "A payment was applied to the plan; `credit` is what went beyond the whole plan.",
        {
            "payment_id": "pay_3QxT1a",
            "amount": 10000,
            "currency": "USD",
            "applied": 10000,
            "credit": 0,
        },
    ),
    "payment.failed": EventType(
        "A payment failed: no balance changed.",
        {"payment_id": "pay_3QxT1a", "amount": 10000, "failure_code": "insufficient_funds"},
    ),
    "payment.reversed": EventType(
        "A payment was reversed (chargeback, returned debit): what it paid is owed again.",
        {"payment_id": "pay_3QxT1a", "amount": 10000, "reason": "chargeback"},
    ),
    "plan.credit_balance": EventType(
        "Money beyond the whole plan: a credit owed back to the customer.",
        {"payment_id": "pay_3QxT1a", "credit": 500, "balance": 500},
    ),
    "plan.credit_applied": EventType(
        "Credit the plan held paid what a reversal re-opened, oldest installment first.",
        {"amount": 500, "balance": 0},
    ),
    "plan.paid_off": EventType("Everything owed on the plan is paid.", {}),
    "plan.reopened": EventType("A reversal re-opened a paid-off plan.", {}),
    "installment.upcoming": EventType(
        "Reminder: an installment is due soon (`days_from_due` is negative).",
        {**_INSTALLMENT_REMINDER, "days_from_due": -7},
    ),
    "installment.due": EventType(
        "Reminder: an installment is due today.", {**_INSTALLMENT_REMINDER, "days_from_due": 0}
    ),
    "installment.overdue": EventType(
        "Reminder: an installment is overdue (1, 7, 30, 60 and 90 days late).",
        {**_INSTALLMENT_REMINDER, "days_from_due": 7},
    ),
    "late_fee.assessed": EventType(
        "A late fee was charged on an overdue installment (`step` 1 or 2).",
        {"installment_id": "01a2067f-2222-7efe-9292-8631ea0efaa2", "step": 1, "amount": 1000},
    ),
    "plan.delinquency_changed": EventType(
        "The plan's delinquency state changed (current, late, delinquent, default).",
        {"from": "late", "to": "delinquent", "days_past_due": 4, "since": "2026-12-15"},
    ),
    "plan.defaulted": EventType(
        "The plan reached default and goes to collections.", {"days_past_due": 90}
    ),
    "plan.cured": EventType("A defaulted plan was paid up to date.", {"days_past_due": 0}),
    DISABLED_TYPE: EventType(
        "One of your endpoints was disabled after every attempt failed for three days.",
        {
            "endpoint_id": "01a2067f-3333-7efe-9292-8631ea0efaa2",
            "url": "https://shop.example/webhooks/bnpl",
            "reason": "every attempt failed for 3 days; last: HTTP 500",
            "failing_since": "2026-12-01T10:00:00Z",
        },
        about_a_plan=False,
    ),
    TEST_TYPE: EventType(
        "A test ping, sent only to the endpoint it was asked for.",
        {"endpoint_id": "01a2067f-3333-7efe-9292-8631ea0efaa2"},
        about_a_plan=False,
    ),
}


def unknown_types(requested: list[str]) -> list[str]:
    return [t for t in requested if t != ANY_TYPE and t not in EVENT_TYPES]
