"""Plan creation: one use case, written one of two ways.

A plan is drafted on its product's current version (`draft`), decided by eligibility, and
written with its answer under the Idempotency-Key, all or nothing, in one statement
(`repository.insert*`). How depends on what this process knows:

- In one statement, outside a transaction (`_in_one_statement`), when this process has read the
  product before and the product does not limit how many plans a customer may have: the plan is
  drafted before a connection is taken, and the statement stores the answer under the new key
  and writes the plan only if the product is still at that version, its merchant still so named
  and the customer in good standing (when the product asks).
- Claim first, in a transaction (`_claim_first`), otherwise and whenever that statement wrote
  nothing (a replay, a twin, a stale product, a customer in bad standing: the claim sorts them
  out): the key is claimed with one read of the product and the customer's history, under the
  customer's advisory lock, so two checkouts at once cannot both pass a limit; a product that
  counts the customer's plans has them counted again under that lock.

Its two ways differ in their transactions, so this use case opens its connections itself
(`app.db.connect`); the endpoint hands it the request and sends the answer.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Connection, connect
from app.eligibility import repository as eligibility_read
from app.eligibility import service as eligibility
from app.errors import Problem
from app.idempotency.service import Answered, IdempotentRequest, idempotent, in_one_statement
from app.plans import repository
from app.plans.draft import PlanDraft, draft
from app.plans.schemas import PlanCreate, PlanOut
from app.plans.service import to_wire
from app.products import repository as products


async def create_plan(
    engine: AsyncEngine, merchant_id: uuid.UUID, body: PlanCreate, request: IdempotentRequest
) -> Answered:
    """The plan `body` asks for, made once however often the request is retried under its
    key: a 422 problem listing `reasons` when eligibility refuses it."""
    if (answered := await _in_one_statement(engine, merchant_id, body, request)) is not None:
        return answered
    async with connect(engine) as conn:
        return await idempotent(
            conn,
            merchant_id,
            request,
            lambda claimed: _claim_first(conn, merchant_id, body, claimed),
            lock=eligibility_read.customer_lock(merchant_id, body.customer_id),
            read=eligibility_read.product_and_history_read(body.product_id, body.customer_id),
        )


def _wire(drafted: PlanDraft) -> PlanOut:
    return to_wire(drafted.plan, drafted.lines, None)


async def _in_one_statement(
    engine: AsyncEngine, merchant_id: uuid.UUID, body: PlanCreate, request: IdempotentRequest
) -> Answered | None:
    """None when the plan cannot be written this way, or its statement wrote nothing: the
    product not read yet here, or limiting how many plans a customer may have, or the request
    refused on what was read (which may be stale)."""
    if (
        request.key is None
        or (known := products.last_read_current(merchant_id, body.product_id)) is None
    ):
        return None
    product, merchant_name = known
    rules = product.definition.eligibility
    if eligibility.counts_plans(rules):
        return None
    try:
        drafted = draft(merchant_id, body, product, merchant_name)
    except Problem:
        return None
    if eligibility.decide(
        product.definition, body.amount, drafted.plan.currency, eligibility_read.NO_HISTORY
    ):
        return None
    guard = repository.Guard(
        merchant_name,
        rules.block_if_delinquent,
        eligibility_read.customer_lock(merchant_id, body.customer_id),
    )
    async with connect(engine, transaction=False) as conn:
        return await in_one_statement(
            request,
            lambda r: repository.insert_guarded(conn, drafted, r.new_key(_wire(drafted)), guard),
        )


async def _claim_first(
    conn: Connection, merchant_id: uuid.UUID, body: PlanCreate, request: IdempotentRequest
) -> PlanOut:
    """Make the plan from what the claim read (`request.found`), under the customer's lock."""
    product, merchant_name, past = eligibility_read.found_with_history(
        body.product_id, request.found
    )
    products.remember_current(merchant_id, product, merchant_name)
    definition = product.definition
    drafted = draft(merchant_id, body, product, merchant_name)
    if eligibility.counts_plans(definition.eligibility):
        *_, past = await eligibility_read.product_and_history(
            conn, merchant_id, body.product_id, body.customer_id
        )
    reasons = eligibility.decide(definition, body.amount, definition.currency, past)
    if reasons:
        raise eligibility.not_eligible(reasons)
    plan = _wire(drafted)
    await repository.insert(conn, drafted, request.stored_answer(plan))
    return plan
