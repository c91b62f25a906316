from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class Referral(Base):
    """The attribution of a customer to a promoter (first touch wins: one per customer)."""

    __tablename__ = "referrals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    promoter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("promoters.id"))
    link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("referral_links.id"))
    click_id: Mapped[uuid.UUID | None]
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    source: Mapped[str] = mapped_column(String(16))  # lead | purchase | event
    referred_at: Mapped[datetime]
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("workspace_id", "customer_id"),
        Index("ix_referrals_promoter_id", "promoter_id"),
    )


class Lead(Base):
    """One lead as reported, with what became of it (referred, already referred, refused)."""

    __tablename__ = "leads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    program_id: Mapped[uuid.UUID | None]
    promoter_id: Mapped[uuid.UUID | None]
    link_id: Mapped[uuid.UUID | None]
    click_id: Mapped[uuid.UUID | None]
    referral_id: Mapped[uuid.UUID | None]  # the referral that stands, whoever made it
    status: Mapped[str] = mapped_column(String(24))  # referred | already_referred | refused
    reason: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_leads_customer_id", "customer_id"),
        Index("ix_leads_promoter_id", "promoter_id"),
    )
