"""ORM models, one file per table; importing this package registers them all on Base.metadata."""

from app.models.agreement import Acceptance, Agreement
from app.models.base import Base, uuid7
from app.models.event import Event
from app.models.idempotency import IdempotencyKey
from app.models.inbound_event import InboundEvent
from app.models.late_fee import LateFee, Reminder
from app.models.merchant import ApiKey, Merchant
from app.models.payment import Allocation, Payment
from app.models.plan import Installment, Plan
from app.models.product import Product, ProductVersion
from app.models.webhook_attempt import WebhookAttempt
from app.models.webhook_delivery import WebhookDelivery
from app.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "Acceptance",
    "Agreement",
    "Allocation",
    "ApiKey",
    "Base",
    "Event",
    "IdempotencyKey",
    "InboundEvent",
    "Installment",
    "LateFee",
    "Merchant",
    "Payment",
    "Plan",
    "Product",
    "ProductVersion",
    "Reminder",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "uuid7",
]
