from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import MerchantId
from app.db import Session
from app.errors import problem_responses
from app.pagination import Page
from app.products import service
from app.products.schemas import Product, ProductDefinition, ProductList, ProductPatch

router = APIRouter(prefix="/v1/products", tags=["products"])


@router.post(
    "",
    response_model=Product,
    status_code=201,
    summary="Create a product",
    responses=problem_responses(401, 422),
)
async def create_product(
    body: ProductDefinition, merchant_id: MerchantId, session: Session
) -> Product:
    """Every offer must be able to make a schedule for the product's whole amount range."""
    return await service.create_product(session, merchant_id, body)


@router.get(
    "", response_model=ProductList, summary="List products", responses=problem_responses(401)
)
async def list_products(merchant_id: MerchantId, session: Session, page: Page) -> ProductList:
    return await service.list_products(session, merchant_id, page)


@router.get(
    "/{product_id}",
    response_model=Product,
    summary="Get a product (its current version, or ?version=N)",
    responses=problem_responses(401, 404),
)
async def get_product(
    product_id: uuid.UUID,
    merchant_id: MerchantId,
    session: Session,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Product:
    return await service.get_product(session, merchant_id, product_id, version)


@router.patch(
    "/{product_id}",
    response_model=Product,
    summary="Change a product: makes a new version",
    responses=problem_responses(401, 404, 422),
)
async def update_product(
    product_id: uuid.UUID, body: ProductPatch, merchant_id: MerchantId, session: Session
) -> Product:
    """Plans already made keep the version they were made under."""
    return await service.update_product(session, merchant_id, product_id, body)
