from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class RewardRule(Base):
    """A reward rule of a referral program (see docs/referrals.md for the JSON format).

    Money is kept in minor units of the program's currency (a program's currency never
    changes); the percentage as text, so no float ever holds it.
    """

    __tablename__ = "reward_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(310))
    conditions: Mapped[dict[str, Any] | None]
    reward_type: Mapped[str] = mapped_column(String(16))  # fixed | percentage | points
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    percent: Mapped[str | None] = mapped_column(String(32))
    cap_minor: Mapped[int | None] = mapped_column(BigInteger)
    points: Mapped[int | None] = mapped_column(BigInteger)
    beneficiary: Mapped[str] = mapped_column(String(24))
    per_referral: Mapped[int | None]
    window_days: Mapped[int | None]
    promoter_period: Mapped[str | None] = mapped_column(String(16))
    promoter_max_count: Mapped[int | None]
    promoter_max_amount: Mapped[int | None] = mapped_column(BigInteger)
    hold_days: Mapped[int]
    exclusive_group: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_reward_rules_workspace_id_program_id", "workspace_id", "program_id"),
    )


class RuleSet(Base):
    """The active rules of one program at some moment, as the engine reads them (oldest
    first): each rule's id and name, ``[[id, name], …]``. Never changed or deleted.

    Its ``id`` is a digest of the program and what it lists (``goodwill.rules.sets``), so the
    same rules are one row and a set is known by its content wherever it is cached. A
    purchase's explanation names the set its rules were decided with instead of repeating every
    rule's id and name (``goodwill.purchases.explained``): a rule's name may change later,
    the set keeps the one it had."""

    __tablename__ = "rule_sets"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    rules: Mapped[list[Any]]
    created_at: Mapped[datetime]
