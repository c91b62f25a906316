"""What loyalty needs to know about a purchase or a custom event, and what it did about it.

The purchase service describes each purchase as :class:`PurchaseFacts`; loyalty never reads the
purchase tables. :func:`purchase_facts` turns one into the facts the condition language sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from goodwill.money import from_minor


@dataclass(frozen=True)
class PurchaseItem:
    """One line of a purchase: the product (its id as a string) and/or your item id (sku)."""

    product_id: str | None
    item_id: str | None
    quantity: int
    amount_minor: int  # the line total, in the purchase currency's minor unit


@dataclass(frozen=True)
class PurchaseFacts:
    purchase_id: uuid.UUID
    customer_id: uuid.UUID
    external_id: str  # the purchase's external_id: seed 001 ``transaction_ref``
    amount_minor: int
    currency: str
    items: tuple[PurchaseItem, ...] = ()
    occurred_at: datetime | None = None
    customer_metadata: Mapping[str, Any] = field(default_factory=dict)
    utm: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventFacts:
    """A custom event as loyalty sees it (``POST /v1/events``)."""

    event_id: uuid.UUID
    name: str
    customer_id: uuid.UUID
    metadata: Mapping[str, Any] = field(default_factory=dict)
    customer_metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StampChange:
    qualifying_purchase_id: uuid.UUID
    program_id: uuid.UUID


@dataclass(frozen=True)
class PointsChange:
    entry_id: uuid.UUID
    program_id: uuid.UUID
    points: int  # positive for an earning, negative for a clawback


@dataclass
class LoyaltyOutcome:
    """What recording a purchase, refund or event did, program by program, with reasons."""

    stamps_created: list[StampChange] = field(default_factory=list)
    stamps_voided: list[StampChange] = field(default_factory=list)
    points_earned: list[PointsChange] = field(default_factory=list)
    points_clawed_back: list[PointsChange] = field(default_factory=list)
    # Programs that gave nothing, and why (conditions not met, another currency…).
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)


def purchase_facts(purchase: PurchaseFacts, amount_minor: int | None = None) -> dict[str, Any]:
    """The facts conditions see; ``amount_minor`` overrides the amount (after a refund)."""
    minor = purchase.amount_minor if amount_minor is None else amount_minor
    return {
        "amount": from_minor(minor, purchase.currency),
        "currency": purchase.currency,
        "product_ids": [i.product_id for i in purchase.items if i.product_id is not None],
        "item_ids": [i.item_id for i in purchase.items if i.item_id is not None],
        "quantity": sum(i.quantity for i in purchase.items),
        "customer": {"metadata": dict(purchase.customer_metadata)},
        "utm": dict(purchase.utm),
    }


def item_facts(item: PurchaseItem, currency: str) -> dict[str, Any]:
    return {
        "product_id": item.product_id,
        "item_id": item.item_id,
        "quantity": item.quantity,
        "amount": from_minor(item.amount_minor, currency),
    }


def event_facts(event: EventFacts) -> dict[str, Any]:
    return {
        "event": {"name": event.name, "metadata": dict(event.metadata)},
        "customer": {"metadata": dict(event.customer_metadata)},
    }
