"""Every table, imported in one place for Alembic and the schema test."""

from goodwill.customers.models import Customer
from goodwill.db import Base
from goodwill.events.models import EventGroup
from goodwill.idempotency.models import IdempotencyKey
from goodwill.links.models import Click, InstallSecret, ReferralLink
from goodwill.loyalty.models import LoyaltyCard, PointsEntry, QualifyingPurchase, Redemption
from goodwill.payouts.models import Payout
from goodwill.products.models import Product
from goodwill.programs.models import Program
from goodwill.promoters.models import Promoter
from goodwill.purchases.models import Purchase, Refund
from goodwill.referrals.models import Lead, Referral
from goodwill.rewards.models import LedgerEntry, Reward
from goodwill.rules.models import RewardRule, RuleSet
from goodwill.tracking.models import CustomEvent, EventSchema
from goodwill.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from goodwill.workspaces.models import ApiKey, Workspace

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Click",
    "CustomEvent",
    "Customer",
    "EventGroup",
    "EventSchema",
    "IdempotencyKey",
    "InstallSecret",
    "Lead",
    "LedgerEntry",
    "LoyaltyCard",
    "Payout",
    "PointsEntry",
    "Product",
    "Program",
    "Promoter",
    "Purchase",
    "QualifyingPurchase",
    "Redemption",
    "Referral",
    "ReferralLink",
    "Refund",
    "Reward",
    "RewardRule",
    "RuleSet",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
    "metadata",
]
