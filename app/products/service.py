"""Products and their versions. A change never edits a version: it appends the next one."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock, engine
from app.errors import field_problem, invalid_document, validation_problem
from app.models import Product, ProductVersion
from app.pagination import PageParams, next_cursor, uuid_cursor
from app.products import offers, repository, schemas


def _check_offers_can_be_scheduled(definition: schemas.ProductDefinition) -> None:
    """Refuse a product whose offers could never make a schedule for its own amount range."""
    today = clock.today()
    deposit = offers.resolve_deposit(definition, definition.min_amount, None)
    for index, offer in enumerate(definition.offers):
        for amount in (offer.min_amount or definition.min_amount, definition.max_amount):
            terms = offers.terms_for(definition, offer, amount, today, deposit)
            try:
                engine.build_schedule(terms.to_engine())
            except engine.TermsError as exc:
                field = "currency" if exc.field == "currency" else f"offers.{index}"
                detail = f"With amount {amount}: {exc.message}"
                raise validation_problem([field_problem(field, detail, exc.code)]) from exc


def to_wire(product: Product, version: ProductVersion) -> schemas.Product:
    return schemas.Product(
        id=str(product.id),
        version=version.version,
        created_at=product.created_at,
        updated_at=version.created_at,
        **version.definition,
    )


async def create_product(
    session: AsyncSession, merchant_id: uuid.UUID, definition: schemas.ProductDefinition
) -> schemas.Product:
    _check_offers_can_be_scheduled(definition)
    product, version = await repository.add_product(
        session, merchant_id, definition.name, definition.model_dump(mode="json")
    )
    return to_wire(product, version)


async def get_product(
    session: AsyncSession, merchant_id: uuid.UUID, product_id: uuid.UUID, version: int | None
) -> schemas.Product:
    product = await repository.product(session, merchant_id, product_id)
    row = await repository.version(
        session, merchant_id, product_id, version or product.current_version
    )
    return to_wire(product, row)


async def update_product(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    product_id: uuid.UUID,
    patch: schemas.ProductPatch,
) -> schemas.Product:
    product = await repository.product(session, merchant_id, product_id, lock=True)
    current = await repository.version(session, merchant_id, product_id, product.current_version)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    try:
        definition = schemas.ProductDefinition.model_validate({**current.definition, **changes})
    except ValidationError as exc:
        raise invalid_document(exc) from exc
    _check_offers_can_be_scheduled(definition)
    stored = definition.model_dump(mode="json")
    if stored == current.definition:
        return to_wire(product, current)
    version = await repository.add_version(session, product, definition.name, stored)
    return to_wire(product, version)


async def list_products(
    session: AsyncSession, merchant_id: uuid.UUID, page: PageParams
) -> schemas.ProductList:
    rows = await repository.page(session, merchant_id, uuid_cursor(page.after), page.limit + 1)
    items = [to_wire(p, v) for p, v in rows[: page.limit]]
    last = rows[page.limit - 1][0].id if len(rows) > page.limit else None
    return schemas.ProductList(data=items, next_cursor=next_cursor(rows, page.limit, last))
