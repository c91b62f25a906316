from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, ForeignKey, Index, String, case
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base
from goodwill.db.base import BigIntPK, index_of_set, partial_index


class Reward(Base):
    """What a rule granted: ``pending → approved → paid``, or ``voided``.

    The amount is never edited: a partial refund adds to ``reversed_minor`` (by delta) and
    writes reversing ledger entries; the net reward is ``amount_minor - reversed_minor``.
    ``unit`` is the program's currency, or ``points``.
    """

    __tablename__ = "rewards"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"))
    referral_id: Mapped[uuid.UUID | None]
    promoter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("promoters.id"))
    # The referred customer who receives it (double-sided programs); NULL when the promoter
    # does (``beneficiary``).
    customer_id: Mapped[uuid.UUID | None]
    # lead | click | event, and its id; a purchase's reward keeps its purchase in
    # ``purchase_id`` alone (both NULL, migration 0020). ``source`` is what granted it.
    source_type: Mapped[str | None] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID | None]
    purchase_id: Mapped[uuid.UUID | None]
    unit: Mapped[str] = mapped_column(String(8))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reversed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    void_reason: Mapped[str | None] = mapped_column(String(500))
    hold_until: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    payout_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]  # NULL until it changes (migration 0020)

    @property
    def changed_at(self) -> datetime:
        """When it last changed: ``updated_at``, or ``created_at`` until it changes."""
        return self.updated_at or self.created_at

    @hybrid_property
    def beneficiary(self) -> str:
        """Who receives it: ``referred_customer`` when it names a customer, else ``promoter``
        (stored as the customer alone since migration 0025)."""
        return "promoter" if self.customer_id is None else "referred_customer"

    @beneficiary.inplace.expression
    @classmethod
    def _beneficiary_expression(cls) -> ColumnElement[str]:
        return case((cls.customer_id.is_(None), "promoter"), else_="referred_customer")

    @property
    def source(self) -> tuple[str, uuid.UUID]:
        """What granted it: the source's type and id (a purchase's is ``purchase_id``)."""
        if self.source_type is None:
            assert self.purchase_id is not None, self.id
            return "purchase", self.purchase_id
        assert self.source_id is not None, self.id
        return self.source_type, self.source_id

    # Referral, purchase and customer ids are unique across workspaces: their indexes need
    # no workspace before them (queries still say it). The promoter's index is the one that
    # also finds a workspace's rewards (migration 0013); its queries read the rows, so the
    # promoter alone (0018).
    __table_args__ = (
        Index("ix_rewards_promoter_id", "promoter_id"),
        index_of_set("ix_rewards_referral_id", "referral_id"),
        Index("ix_rewards_purchase_id", "purchase_id"),
        index_of_set("ix_rewards_customer_id", "customer_id"),
        # The hold period's job reads only pending rewards (rewards.service.approve_due).
        partial_index("ix_rewards_pending_hold_until", "hold_until", "status = 'pending'"),
        # A lead's or an event's rewards (rewards.service.for_sources); a purchase's are found
        # by purchase_id (0018).
        partial_index("ix_rewards_source_id", "source_id", "source_type <> 'purchase'"),
    )


class LedgerEntry(Base):
    """One signed movement of one account's bucket; never edited or deleted.

    An account is a promoter or a customer; ``bucket`` is ``pending``, ``approved``, ``paid``
    or ``clawback`` (negative: owed back after a paid reward's purchase was refunded). A
    balance is the sum of an account's entries per unit and bucket.

    Entries are numbered in the order written: nothing outside the ledger names one, so an
    entry needs no UUID, and on SQLite its number is the row's own key, which needs no index
    of its own (migration 0019).
    """

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    account_type: Mapped[str] = mapped_column(String(16))  # promoter | customer
    account_id: Mapped[uuid.UUID]
    unit: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    reward_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rewards.id"))
    payout_id: Mapped[uuid.UUID | None]
    refund_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_ledger_entries_account_id", "account_id"),
        Index("ix_ledger_entries_reward_id", "reward_id"),
    )
