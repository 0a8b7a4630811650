"""ORM models, one file per table; importing this package registers them all on Base.metadata."""

from app.models.agreement import Acceptance, Agreement
from app.models.base import Base, uuid7
from app.models.event import Event
from app.models.idempotency import IdempotencyKey
from app.models.merchant import ApiKey, Merchant
from app.models.plan import Installment, Plan
from app.models.product import Product, ProductVersion

__all__ = [
    "Acceptance",
    "Agreement",
    "ApiKey",
    "Base",
    "Event",
    "IdempotencyKey",
    "Installment",
    "Merchant",
    "Plan",
    "Product",
    "ProductVersion",
    "uuid7",
]
