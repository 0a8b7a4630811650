"""Products' statements: versions are appended, never edited; a version read is kept parsed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import not_found
from app.models import Product, ProductVersion
from app.products.schemas import ProductDefinition


def definition_sql(column: str, *path: str, text: bool = True) -> str:
    """SQL reading a field of the product document stored in `column` (`->` down `path`, `->>`
    for the last one unless `text` is False). The path must name fields of ProductDefinition:
    checked at import, so renaming a field of the public schema cannot silently change what the
    statements that read the stored document see."""
    model: Any = ProductDefinition
    for name in path:
        field = model.model_fields.get(name) if model is not None else None
        if field is None:
            raise LookupError(f"ProductDefinition has no field {'.'.join(path)}")
        model = next(
            (
                a
                for a in getattr(field.annotation, "__args__", (field.annotation,))
                if hasattr(a, "model_fields")
            ),
            None,
        )
    *down, last = path
    steps = "".join(f" -> '{name}'" for name in down)
    return f"({column}{steps} {'->>' if text else '->'} '{last}')"


@dataclass(frozen=True, slots=True)
class VersionedProduct:
    id: uuid.UUID
    version: int
    definition: ProductDefinition


async def add_product(
    session: AsyncSession, merchant_id: uuid.UUID, name: str, definition: dict[str, Any]
) -> tuple[Product, ProductVersion]:
    """A new product at version 1."""
    product = Product(merchant_id=merchant_id, name=name, current_version=1)
    session.add(product)
    await session.flush()
    version = ProductVersion(
        product_id=product.id, version=1, merchant_id=merchant_id, definition=definition
    )
    session.add(version)
    await session.flush()
    await session.refresh(product)
    await session.refresh(version)
    return product, version


async def add_version(
    session: AsyncSession, product: Product, name: str, definition: dict[str, Any]
) -> ProductVersion:
    """The product's next version, made current; `product` is locked (`product(lock=True)`)."""
    product.current_version += 1
    product.name = name
    product.updated_at = func.now()
    version = ProductVersion(
        product_id=product.id,
        version=product.current_version,
        merchant_id=product.merchant_id,
        definition=definition,
    )
    session.add(version)
    await session.flush()
    await session.refresh(product)
    await session.refresh(version)
    return version


async def product(
    session: AsyncSession, merchant_id: uuid.UUID, product_id: uuid.UUID, *, lock: bool = False
) -> Product:
    query = select(Product).where(Product.id == product_id, Product.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise not_found("product")
    return found


async def version(
    session: AsyncSession, merchant_id: uuid.UUID, product_id: uuid.UUID, number: int
) -> ProductVersion:
    row = await session.get(ProductVersion, (product_id, number))
    if row is None or row.merchant_id != merchant_id:
        raise not_found("product version")
    return row


async def page(
    session: AsyncSession, merchant_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[tuple[Product, ProductVersion]]:
    """The merchant's products at their current versions, in id order after `after`."""
    query = (
        select(Product, ProductVersion)
        .join(
            ProductVersion,
            (ProductVersion.product_id == Product.id)
            & (ProductVersion.version == Product.current_version),
        )
        .where(Product.merchant_id == merchant_id)
        .order_by(Product.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Product.id > after)
    return [(p, v) for p, v in (await session.execute(query)).all()]


# A product's current version, and its merchant's name (for a plan's agreement): $1 merchant,
# $2 product. Eligibility and plan creation read it in one statement with the customer's history
# (app.eligibility.repository.PRODUCT_AND_HISTORY).
CURRENT_SQL = """
    SELECT v.version, v.definition::text AS definition, m.name AS merchant_name
    FROM products AS p
    JOIN product_versions AS v ON v.product_id = p.id AND v.version = p.current_version
    JOIN merchants AS m ON m.id = p.merchant_id
    WHERE p.id = $2 AND p.merchant_id = $1
"""
# A version never changes once written, so its parsed definition can be kept.
_definitions: dict[tuple[uuid.UUID, int], ProductDefinition] = {}
# What this process last read as a merchant's product's current version, and the merchant's name:
# plan creation writes a plan in one statement on it, a statement that checks both are still so
# (`still_current_sql`) and writes nothing otherwise.
_last_read: dict[tuple[uuid.UUID, uuid.UUID], tuple[VersionedProduct, str]] = {}


def still_current_sql(merchant: str, product: str, version: str, merchant_name: str) -> str:
    """An SQL condition: the merchant's product is at `version`, and the merchant is named
    `merchant_name` (each argument a parameter placeholder)."""
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


def definition_of(product_id: uuid.UUID, version: int, raw: str) -> ProductDefinition:
    """The parsed definition of a product version, from its stored JSON text."""
    key = (product_id, version)
    if (found := _definitions.get(key)) is None:
        if len(_definitions) >= 10_000:
            _definitions.clear()
        found = _definitions[key] = ProductDefinition.model_validate_json(raw)
    return found


def current_found(
    product_id: uuid.UUID, row: asyncpg.Record | None
) -> tuple[VersionedProduct, str]:
    """The product's current version and its merchant's name, from a row of `CURRENT_SQL`; a
    404 problem when the merchant has no such product."""
    if row is None:
        raise not_found("product")
    version = row["version"]
    definition = definition_of(product_id, version, row["definition"])
    return VersionedProduct(product_id, version, definition), row["merchant_name"]


async def current(
    conn: asyncpg.Connection, merchant_id: uuid.UUID, product_id: uuid.UUID
) -> VersionedProduct:
    row = await conn.fetchrow(CURRENT_SQL, merchant_id, product_id)
    return current_found(product_id, row)[0]
