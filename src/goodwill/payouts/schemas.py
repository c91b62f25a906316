from __future__ import annotations

import uuid
from decimal import Decimal

from goodwill.clock import format_time
from goodwill.errors import ValidationFailed
from goodwill.http.schema import Input, Output
from goodwill.money import from_minor
from goodwill.payouts.models import Payout


class PayoutCreate(Input):
    """Pay one promoter (``promoter_id``), one customer (``customer_id``), or every promoter
    of a program (``program_id``) whose payable balance is at least ``minimum``."""

    promoter_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    minimum: Decimal | None = None

    def check(self) -> None:
        given = [n for n in ("promoter_id", "customer_id", "program_id") if getattr(self, n)]
        if len(given) != 1:
            raise ValidationFailed.single(
                given[1] if given else "promoter_id",
                "give exactly one of promoter_id, customer_id or program_id",
            )


class PayoutOut(Output):
    id: uuid.UUID
    account_type: str
    promoter_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    program_id: uuid.UUID | None
    currency: str
    amount: Decimal
    rewards_amount: Decimal
    clawback_amount: Decimal
    reward_count: int
    created_at: str
    object: str = "payout"

    @classmethod
    def of(cls, p: Payout) -> PayoutOut:
        return cls(
            id=p.id,
            account_type=p.account_type,
            promoter_id=p.promoter_id,
            customer_id=p.customer_id,
            program_id=p.program_id,
            currency=p.currency,
            amount=from_minor(p.amount_minor, p.currency),
            rewards_amount=from_minor(p.rewards_minor, p.currency),
            clawback_amount=from_minor(p.clawback_minor, p.currency),
            reward_count=p.reward_count,
            created_at=format_time(p.created_at),
        )


class Skipped(Output):
    account_type: str
    account_id: uuid.UUID
    currency: str
    payable: Decimal
    reason: str


class PayoutRun(Output):
    """What one ``POST /v1/payouts`` paid, and whom it left out and why."""

    data: list[PayoutOut]
    skipped: list[Skipped]
    object: str = "payout_run"
