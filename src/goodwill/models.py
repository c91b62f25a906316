"""Every table, imported in one place for Alembic and the schema test."""

from goodwill.customers.models import Customer
from goodwill.db import Base
from goodwill.events.models import Event
from goodwill.idempotency.models import IdempotencyKey
from goodwill.products.models import Product
from goodwill.programs.models import Program
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from goodwill.workspaces.models import ApiKey, Workspace

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Customer",
    "Event",
    "IdempotencyKey",
    "Product",
    "Program",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
    "metadata",
]
