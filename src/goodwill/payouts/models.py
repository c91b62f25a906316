from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class Payout(Base):
    """One payment of an account's approved rewards in one currency, net of clawbacks."""

    __tablename__ = "payouts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    account_type: Mapped[str] = mapped_column(String(16))  # promoter | customer
    promoter_id: Mapped[uuid.UUID | None]
    customer_id: Mapped[uuid.UUID | None]
    program_id: Mapped[uuid.UUID | None]
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # what is paid: rewards - clawbacks
    rewards_minor: Mapped[int] = mapped_column(BigInteger)
    clawback_minor: Mapped[int] = mapped_column(BigInteger)
    reward_count: Mapped[int]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_payouts_workspace_id_promoter_id", "workspace_id", "promoter_id"),
        Index("ix_payouts_workspace_id_customer_id", "workspace_id", "customer_id"),
    )
