"""Every table, imported in one place for Alembic and the schema test."""

from goodwill.customers.models import Customer
from goodwill.db import Base
from goodwill.events.models import Event
from goodwill.idempotency.models import IdempotencyKey
from goodwill.loyalty.models import LoyaltyCard, PointsEntry, QualifyingPurchase, Redemption
from goodwill.products.models import Product
from goodwill.programs.models import Program
from goodwill.tracking.models import CustomEvent, EventSchema
from goodwill.workspaces.models import ApiKey, Workspace

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "CustomEvent",
    "Customer",
    "Event",
    "EventSchema",
    "IdempotencyKey",
    "LoyaltyCard",
    "PointsEntry",
    "Product",
    "Program",
    "QualifyingPurchase",
    "Redemption",
    "Workspace",
    "metadata",
]
