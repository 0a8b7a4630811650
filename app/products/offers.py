"""Turning a product's offers into concrete terms for an amount: shared by quotes, eligibility
and plan creation, so the three can never disagree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.errors import field_problem, validation_problem
from app.products.schemas import AmountOrPercent, Offer, ProductDefinition, Terms


def check_amount(definition: ProductDefinition, amount: int) -> None:
    if not definition.min_amount <= amount <= definition.max_amount:
        detail = (
            f"This product lends from {definition.min_amount} to {definition.max_amount}"
            f" {definition.currency} minor units"
        )
        raise validation_problem([field_problem("amount", detail, "amount_out_of_range")])


def resolve_deposit(
    definition: ProductDefinition, amount: int, deposit: AmountOrPercent | None
) -> AmountOrPercent | None:
    """The deposit asked for, checked against the product's bounds; default: its minimum."""
    rule = definition.deposit
    if deposit is None:
        return AmountOrPercent(percent=rule.min_percent) if rule.min_percent > 0 else None
    percent = (
        deposit.percent
        if deposit.percent is not None
        else Decimal(deposit.amount or 0) * 100 / Decimal(amount)
    )
    if not rule.min_percent <= percent <= rule.max_percent:
        detail = (
            f"The deposit must be from {rule.min_percent}% to {rule.max_percent}% of the amount"
        )
        raise validation_problem([field_problem("deposit", detail, "deposit_out_of_range")])
    return deposit


def terms_for(
    definition: ProductDefinition,
    offer: Offer,
    amount: int,
    start_date: date,
    deposit: AmountOrPercent | None,
) -> Terms:
    return Terms(
        amount=amount,
        currency=definition.currency,
        start_date=start_date,
        installments=offer.installments,
        frequency=offer.frequency,
        deposit=deposit,
        interest_rate=offer.interest_rate,
        interest_method=offer.interest_method,
        fee=offer.fee,
    )


def qualifying_offers(definition: ProductDefinition, amount: int) -> list[Offer]:
    return [offer for offer in definition.offers if offer.accepts(amount)]
