"""Products and their versions. A change never edits a version: it appends the next one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock, engine
from app.errors import field_problem, invalid_document, not_found, validation_problem
from app.models import Product, ProductVersion
from app.pagination import PageParams, next_cursor, uuid_cursor
from app.products import offers, schemas


@dataclass(frozen=True, slots=True)
class VersionedProduct:
    id: uuid.UUID
    version: int
    definition: schemas.ProductDefinition


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
    product = Product(merchant_id=merchant_id, name=definition.name, current_version=1)
    session.add(product)
    await session.flush()
    version = ProductVersion(
        product_id=product.id,
        version=1,
        merchant_id=merchant_id,
        definition=definition.model_dump(mode="json"),
    )
    session.add(version)
    await session.flush()
    await session.refresh(product)
    await session.refresh(version)
    return to_wire(product, version)


async def _product(
    session: AsyncSession, merchant_id: uuid.UUID, product_id: uuid.UUID, *, lock: bool = False
) -> Product:
    query = select(Product).where(Product.id == product_id, Product.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    product = (await session.execute(query)).scalar_one_or_none()
    if product is None:
        raise not_found("product")
    return product


async def _version(
    session: AsyncSession, merchant_id: uuid.UUID, product_id: uuid.UUID, version: int
) -> ProductVersion:
    row = await session.get(ProductVersion, (product_id, version))
    if row is None or row.merchant_id != merchant_id:
        raise not_found("product version")
    return row


async def get_product(
    session: AsyncSession, merchant_id: uuid.UUID, product_id: uuid.UUID, version: int | None
) -> schemas.Product:
    product = await _product(session, merchant_id, product_id)
    row = await _version(session, merchant_id, product_id, version or product.current_version)
    return to_wire(product, row)


# A product's current version, and its merchant's name (for a plan's agreement): $1 merchant,
# $2 product. Eligibility and plan creation read it in one statement with the customer's history
# (app.eligibility.service.PRODUCT_AND_HISTORY).
CURRENT_SQL = """
    SELECT v.version, v.definition::text AS definition, m.name AS merchant_name
    FROM products AS p
    JOIN product_versions AS v ON v.product_id = p.id AND v.version = p.current_version
    JOIN merchants AS m ON m.id = p.merchant_id
    WHERE p.id = $2 AND p.merchant_id = $1
"""
# A version never changes once written, so its parsed definition can be kept.
_definitions: dict[tuple[uuid.UUID, int], schemas.ProductDefinition] = {}
# What this process last read as a merchant's product's current version, and the merchant's name:
# plan creation writes a plan in one statement on it, a statement that checks both are still so
# (`still_current_sql`) and writes nothing otherwise.
_last_read: dict[tuple[uuid.UUID, uuid.UUID], tuple[VersionedProduct, str]] = {}


def still_current_sql(merchant: str, product: str, version: str, merchant_name: str) -> str:
    """An SQL condition: the merchant's product is at `version`, and the merchant is named
    `merchant_name` (each argument a parameter placeholder, "$n")."""
    return f"""EXISTS (
        SELECT FROM products AS p JOIN merchants AS m ON m.id = p.merchant_id
        WHERE p.id = {product} AND p.merchant_id = {merchant}
          AND p.current_version = {version} AND m.name = {merchant_name}
    )"""


def remember_current(merchant_id: uuid.UUID, product: VersionedProduct, merchant_name: str) -> None:
    if len(_last_read) >= 10_000:
        _last_read.clear()
    _last_read[merchant_id, product.id] = (product, merchant_name)


def last_read_current(
    merchant_id: uuid.UUID, product_id: uuid.UUID
) -> tuple[VersionedProduct, str] | None:
    """The product's current version and its merchant's name as this process last read them
    (`remember_current`): maybe no longer so."""
    return _last_read.get((merchant_id, product_id))


def definition_of(product_id: uuid.UUID, version: int, raw: str) -> schemas.ProductDefinition:
    """The parsed definition of a product version, from its stored JSON text."""
    key = (product_id, version)
    if (found := _definitions.get(key)) is None:
        if len(_definitions) >= 10_000:
            _definitions.clear()
        found = _definitions[key] = schemas.ProductDefinition.model_validate_json(raw)
    return found


def current_found(
    product_id: uuid.UUID, row: asyncpg.Record | None
) -> tuple[VersionedProduct, str]:
    """The product's current version and its merchant's name, from a row of `CURRENT_SQL`."""
    if row is None:
        raise not_found("product")
    version = row["version"]
    definition = definition_of(product_id, version, row["definition"])
    return VersionedProduct(product_id, version, definition), row["merchant_name"]


async def current_definition(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, product_id: uuid.UUID
) -> VersionedProduct:
    row = await conn.fetchrow(CURRENT_SQL, merchant_id, product_id)
    return current_found(product_id, row)[0]


async def update_product(
    session: AsyncSession,
    merchant_id: uuid.UUID,
    product_id: uuid.UUID,
    patch: schemas.ProductPatch,
) -> schemas.Product:
    product = await _product(session, merchant_id, product_id, lock=True)
    current = await _version(session, merchant_id, product_id, product.current_version)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    try:
        definition = schemas.ProductDefinition.model_validate({**current.definition, **changes})
    except ValidationError as exc:
        raise invalid_document(exc) from exc
    _check_offers_can_be_scheduled(definition)
    stored = definition.model_dump(mode="json")
    if stored == current.definition:
        return to_wire(product, current)
    product.current_version += 1
    product.name = definition.name
    product.updated_at = func.now()
    version = ProductVersion(
        product_id=product.id,
        version=product.current_version,
        merchant_id=merchant_id,
        definition=stored,
    )
    session.add(version)
    await session.flush()
    await session.refresh(product)
    await session.refresh(version)
    return to_wire(product, version)


async def list_products(
    session: AsyncSession, merchant_id: uuid.UUID, page: PageParams
) -> schemas.ProductList:
    query = (
        select(Product, ProductVersion)
        .join(
            ProductVersion,
            (ProductVersion.product_id == Product.id)
            & (ProductVersion.version == Product.current_version),
        )
        .where(Product.merchant_id == merchant_id)
        .order_by(Product.id)
        .limit(page.limit + 1)
    )
    if (after := uuid_cursor(page.after)) is not None:
        query = query.where(Product.id > after)
    rows = (await session.execute(query)).all()
    items = [to_wire(p, v) for p, v in rows[: page.limit]]
    last = rows[page.limit - 1][0].id if len(rows) > page.limit else None
    return schemas.ProductList(data=items, next_cursor=next_cursor(rows, page.limit, last))
