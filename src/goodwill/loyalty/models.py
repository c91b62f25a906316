"""Loyalty tables: cards, qualifying purchases (stamps), the points ledger and redemptions.

Points are an append-only ledger. An ``earn`` row is a *lot*: its ``lot_id`` is its own id and
it carries ``pending_until`` and ``expires_at``. Every later row that moves points of that lot
(``redeem``, ``reverse``, ``expire``, ``refund``) names the lot, so a lot's remaining points are
the sum of the rows with its ``lot_id``, and every balance is a sum over rows. Nothing is updated
or deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, column_property, mapped_column

from goodwill.db import Base
from goodwill.db.base import index_of_set
from goodwill.purchases.models import Purchase


class LoyaltyCard(Base):
    """A customer's card in a stamps or points program; ``code`` names it in events."""

    __tablename__ = "loyalty_cards"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("workspace_id", "code"),
        UniqueConstraint("program_id", "customer_id"),
    )


class Redemption(Base):
    """Stamps or points spent on a reward; ``external_id`` makes it happen once."""

    __tablename__ = "redemptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_cards.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # stamps | points
    quantity: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # completed | reversed
    qualifying_purchase_ids: Mapped[list[Any]] = mapped_column(default=list)
    reward: Mapped[dict[str, Any] | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime]
    reversed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id"),
        Index("ix_redemptions_card_id", "card_id"),
    )


class QualifyingPurchase(Base):
    """One stamp: a purchase (or one unit of its items) that counted in a stamps program.

    ``created → redeemed → unredeemed → redeemed …``; ``voided`` by a refund, from any state.

    Its ``customer_id`` is its card's and its ``transaction_ref`` its purchase's
    ``external_id``, neither of which ever changes: read through them, not stored again
    (migration 0025).
    """

    __tablename__ = "qualifying_purchases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_cards.id"))
    purchase_id: Mapped[uuid.UUID] = mapped_column()
    stamp_index: Mapped[int]  # 0 … n-1 for a purchase that gave n stamps
    customer_id: Mapped[uuid.UUID] = column_property(
        select(LoyaltyCard.customer_id)
        .where(LoyaltyCard.id == card_id)
        .correlate_except(LoyaltyCard)
        .scalar_subquery()
    )
    transaction_ref: Mapped[str] = column_property(
        select(Purchase.external_id)
        .where(Purchase.id == purchase_id)
        .correlate_except(Purchase)
        .scalar_subquery()
    )
    status: Mapped[str] = mapped_column(String(16))  # created|redeemed|voided|unredeemed
    redemption_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("redemptions.id"))
    created_at: Mapped[datetime]
    redeemed_at: Mapped[datetime | None]
    unredeemed_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]  # NULL until it changes (migration 0020)

    # A new purchase's stamps take ids made of the purchase's (goodwill.loyalty.stamps.stamp_id):
    # the primary key keeps them unique (migration 0026), and a purchase's stamps are found
    # through its customer's cards (goodwill.loyalty.stamps.of_purchase).
    __table_args__ = (
        # A card's stamps, by status when read (a card holds few): migration 0021.
        Index("ix_qualifying_purchases_card_id", "card_id"),
        index_of_set("ix_qualifying_purchases_redemption_id", "redemption_id"),
    )


class PointsEntry(Base):
    """One row of a points ledger (see the module docstring)."""

    __tablename__ = "points_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_cards.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))  # earn|redeem|reverse|expire|refund
    points: Mapped[int] = mapped_column(BigInteger)  # signed
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("points_entries.id"))
    earned_at: Mapped[datetime | None]
    pending_until: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    purchase_id: Mapped[uuid.UUID | None]
    custom_event_id: Mapped[uuid.UUID | None]
    redemption_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("redemptions.id"))
    # earn from a purchase: the purchase amount; refund: the amount refunded so far (minor units)
    basis_minor: Mapped[int | None] = mapped_column(BigInteger)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("program_id", "dedupe_key"),
        Index("ix_points_entries_card_id_lot_id", "card_id", "lot_id"),
        Index("ix_points_entries_lot_id", "lot_id"),
        Index("ix_points_entries_kind_expires_at", "kind", "expires_at"),
        Index("ix_points_entries_purchase_id", "purchase_id"),
        index_of_set("ix_points_entries_redemption_id", "redemption_id"),
    )
