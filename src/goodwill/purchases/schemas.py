from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from goodwill.clock import format_time
from goodwill.http.schema import CurrencyCode, Input, Output, Text
from goodwill.links.schemas import UtmOut, UtmParams
from goodwill.money import from_minor
from goodwill.purchases import explained
from goodwill.purchases.models import Purchase, Refund
from goodwill.referrals.schemas import Attribution, CustomerRef
from goodwill.rewards.schemas import Explanation, RewardOut
from goodwill.rules.sets import Listed

ExternalId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\x00]*$",
        min_length=1,
        max_length=200,
        description="Your id for it, unique in the workspace: a replay creates nothing",
    ),
]
Amount = Annotated[
    Decimal,
    msgspec.Meta(description="At least 0, in the currency's major unit", examples=["42.50"]),
]
ItemId = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", min_length=1, max_length=200)]


class ItemIn(Input):
    """A line: a catalog ``product_id``, or your ``item_id`` (a product's sku, or any id)."""

    product_id: uuid.UUID | None = None
    item_id: ItemId | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    amount: Amount | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.product_id is None and self.item_id is None:
            raise ValueError("give product_id or item_id")


class PurchaseCreate(Attribution, kw_only=True):
    external_id: ExternalId
    customer: CustomerRef
    amount: Amount
    currency: CurrencyCode
    items: list[ItemIn] = msgspec.field(default_factory=list)
    occurred_at: datetime | None = None
    utm_params: UtmParams | None = None
    description: Text | None = None


class ItemOut(Output):
    product_id: uuid.UUID | None
    item_id: str | None
    quantity: int
    amount: Decimal | None

    @classmethod
    def of(cls, stored: dict[str, Any], currency: str) -> ItemOut:
        minor = stored.get("amount_minor")
        return cls(
            product_id=None
            if stored.get("product_id") is None
            else uuid.UUID(stored["product_id"]),
            item_id=stored.get("item_id"),
            quantity=int(stored["quantity"]),
            amount=None if minor is None else from_minor(int(minor), currency),
        )


class RefundCreate(Input):
    amount: Amount | None = None
    external_id: ExternalId | None = None


class RefundOut(Output):
    id: uuid.UUID
    purchase_id: uuid.UUID
    external_id: str | None
    amount: Decimal
    currency: str
    purchase_refunded_amount: Decimal
    purchase_status: str
    created_at: str
    object: str = "refund"

    @classmethod
    def of(cls, refund: Refund, purchase: Purchase) -> RefundOut:
        return cls(
            id=refund.id,
            purchase_id=refund.purchase_id,
            external_id=refund.external_id,
            amount=from_minor(refund.amount_minor, purchase.currency),
            currency=purchase.currency,
            purchase_refunded_amount=from_minor(purchase.refunded_minor, purchase.currency),
            purchase_status=purchase.status,
            created_at=format_time(refund.created_at),
        )


class PurchaseOut(Output):
    id: uuid.UUID
    external_id: str
    customer_id: uuid.UUID
    program_id: uuid.UUID | None
    promoter_id: uuid.UUID | None
    link_id: uuid.UUID | None
    click_id: uuid.UUID | None
    referral_id: uuid.UUID | None
    amount: Decimal
    refunded_amount: Decimal
    currency: str
    status: str
    items: list[ItemOut]
    utm_params: UtmOut | None
    description: str | None
    purchase_number: int
    occurred_at: str
    created_at: str
    updated_at: str
    rewards: list[RewardOut]
    refunds: list[RefundOut]
    explanation: Explanation
    object: str = "purchase"

    @classmethod
    def of(
        cls,
        p: Purchase,
        rewards: list[RewardOut],
        refunds: list[Refund],
        rule_sets: Mapping[int, Listed] | None = None,
    ) -> PurchaseOut:
        """``rule_sets``: the rule sets its explanation may name, by id."""
        return cls(
            id=p.id,
            external_id=p.external_id,
            customer_id=p.customer_id,
            program_id=p.program_id,
            promoter_id=p.promoter_id,
            link_id=p.link_id,
            click_id=p.click_id,
            referral_id=p.referral_id,
            amount=from_minor(p.amount_minor, p.currency),
            refunded_amount=from_minor(p.refunded_minor, p.currency),
            currency=p.currency,
            status=p.status,
            items=[ItemOut.of(i, p.currency) for i in p.items],
            utm_params=UtmOut.of(p.utm_params),
            description=p.description,
            purchase_number=p.purchase_number,
            occurred_at=format_time(p.occurred_at),
            created_at=format_time(p.created_at),
            updated_at=format_time(p.changed_at),
            rewards=rewards,
            refunds=[RefundOut.of(r, p) for r in refunds],
            explanation=Explanation.of(explained.complete(p.explanation, p, rewards, rule_sets)),
        )
