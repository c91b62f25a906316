"""Every table, imported in one place for Alembic and the schema test."""

from goodwill.customers.models import Customer
from goodwill.db import Base
from goodwill.events.models import Event
from goodwill.idempotency.models import IdempotencyKey
from goodwill.links.models import Click, InstallSecret, ReferralLink
from goodwill.payouts.models import Payout
from goodwill.products.models import Product
from goodwill.programs.models import Program
from goodwill.promoters.models import Promoter
from goodwill.purchases.models import Purchase, Refund
from goodwill.referrals.models import Lead, Referral
from goodwill.rewards.models import LedgerEntry, Reward
from goodwill.rules.models import RewardRule
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from goodwill.workspaces.models import ApiKey, Workspace

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Click",
    "Customer",
    "Event",
    "IdempotencyKey",
    "InstallSecret",
    "Lead",
    "LedgerEntry",
    "Payout",
    "Product",
    "Program",
    "Promoter",
    "Purchase",
    "Referral",
    "ReferralLink",
    "Refund",
    "Reward",
    "RewardRule",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
    "metadata",
]
