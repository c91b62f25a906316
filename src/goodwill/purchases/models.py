from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base
from goodwill.db.base import PackedJSON, index_of_set


class Purchase(Base):
    """A purchase as the business reported it, its attribution and the rules' explanation."""

    __tablename__ = "purchases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    # The first 8 bytes of the SHA-256 of the request that created it (16 for purchases stored
    # from 2026-12-04 to 2026-12-07, all 32 before): a replay with another body is a conflict.
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    program_id: Mapped[uuid.UUID | None]
    promoter_id: Mapped[uuid.UUID | None]
    link_id: Mapped[uuid.UUID | None]
    click_id: Mapped[uuid.UUID | None]
    referral_id: Mapped[uuid.UUID | None]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    # Compressed (goodwill.db.packed), as the explanation: about 35 bytes for one line.
    items: Mapped[list[Any]] = mapped_column(PackedJSON, default=list)
    utm_params: Mapped[dict[str, Any] | None]
    description: Mapped[str | None] = mapped_column(String(1000))
    purchase_number: Mapped[int]
    status: Mapped[str] = mapped_column(String(24))  # completed | partially_refunded | refunded
    # Compressed (goodwill.db.packed): about 650 bytes of JSON for three rules.
    explanation: Mapped[dict[str, Any]] = mapped_column(PackedJSON, default=dict)
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]  # NULL until it changes (migration 0020)

    @property
    def changed_at(self) -> datetime:
        """When it last changed: ``updated_at``, or ``created_at`` until it changes."""
        return self.updated_at or self.created_at

    # Promoter ids are unique across workspaces: their index needs no workspace before them
    # (queries still say it; migration 0013). The customer's keeps it, which makes the count
    # of a customer's purchases (each purchase's number) read the index alone.
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id"),
        Index("ix_purchases_customer_id", "customer_id"),
        index_of_set("ix_purchases_promoter_id", "promoter_id"),
    )


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchases.id"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("workspace_id", "purchase_id", "external_id"),
        Index("ix_refunds_purchase_id", "purchase_id"),
    )
