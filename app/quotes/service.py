"""Quotes and APR checks: wire terms in, engine out. Stateless."""

from __future__ import annotations

import uuid
from datetime import date

from app import clock, engine
from app.db import Connection
from app.errors import Problem, field_problem, validation_problem
from app.products import offers
from app.products import repository as products
from app.products.schemas import AmountOrPercent, ProductDefinition, Terms
from app.quotes.schemas import (
    AprRequest,
    AprResult,
    ProductQuoteRequest,
    Quote,
    QuoteList,
)


def terms_error_problem(exc: engine.TermsError, prefix: str = "") -> Problem:
    field = f"{prefix}.{exc.field}" if prefix and exc.field else prefix or exc.field
    return validation_problem([field_problem(field, exc.message, exc.code)])


def build(terms: Terms) -> engine.Schedule:
    """The schedule of `terms`, or a 422 problem pointing at the field that makes it impossible."""
    try:
        return engine.build_schedule(terms.to_engine())
    except engine.TermsError as exc:
        raise terms_error_problem(exc) from exc


def line_fields(schedule: engine.Schedule) -> list[dict[str, object]]:
    return [
        {
            "sequence": line.sequence,
            "kind": line.kind,
            "due_date": line.due_date,
            "principal": line.principal,
            "interest": line.interest,
            "fee": line.fee,
            "amount": line.amount,
        }
        for line in schedule.lines
    ]


def quote(terms: Terms) -> Quote:
    schedule = build(terms)
    # One validation of plain data in pydantic's core is several times cheaper than building
    # each line model in Python (model_construct included).
    return Quote.model_validate(
        {
            "amount": terms.amount,
            "currency": terms.currency,
            "deposit_amount": schedule.deposit_amount,
            "amount_financed": schedule.amount_financed,
            "finance_charge": schedule.finance_charge,
            "total_of_payments": schedule.total_of_payments,
            "total_sale_price": schedule.total_sale_price,
            "apr": str(schedule.apr),
            "first_due_date": schedule.first_due_date,
            "last_due_date": schedule.last_due_date,
            "schedule": line_fields(schedule),
            "terms": terms.model_copy(update={"first_due_date": schedule.first_due_date}),
        }
    )


async def quote_product(
    conn: Connection, merchant_id: uuid.UUID, request: ProductQuoteRequest
) -> QuoteList:
    product = await products.current(conn, merchant_id, request.product_id)
    definition = product.definition
    offers.check_amount(definition, request.amount)
    start = request.start_date or clock.today()
    return QuoteList(data=offer_quotes(definition, request.amount, start, request.deposit))


def offer_quotes(
    definition: ProductDefinition,
    amount: int,
    start: date,
    deposit: AmountOrPercent | None = None,
) -> list[Quote]:
    """One quote per offer of the product that the amount qualifies for."""
    chosen = offers.resolve_deposit(definition, amount, deposit)
    return [
        quote(offers.terms_for(definition, offer, amount, start, chosen))
        for offer in offers.qualifying_offers(definition, amount)
    ]


def check_apr(request: AprRequest) -> AprResult:
    payments = [engine.ScheduledPayment(due_date=p.date, amount=p.amount) for p in request.payments]
    try:
        engine.currency_exponent(request.currency)
        unit = request.unit_period or engine.infer_unit_period(request.start_date, payments)
        apr = engine.compute_apr(request.amount_financed, request.start_date, payments, unit)
    except engine.TermsError as exc:
        raise terms_error_problem(exc) from exc
    total = sum(p.amount for p in payments)
    return AprResult(
        apr=str(apr),
        unit_period=unit,
        amount_financed=request.amount_financed,
        currency=request.currency,
        finance_charge=total - request.amount_financed,
        total_of_payments=total,
    )
