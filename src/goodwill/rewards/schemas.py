from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import msgspec

from goodwill.clock import format_time
from goodwill.http.schema import Input, Output, ShortText
from goodwill.money import from_minor
from goodwill.rewards.models import Reward
from goodwill.rules.engine import POINTS


def amount_of(minor: int, unit: str) -> Decimal | int:
    """A ledger amount as shown: a decimal in the currency's major unit, or whole points."""
    return minor if unit == POINTS else from_minor(minor, unit)


class RuleExplained(Output, omit_defaults=True):
    """One rule's decision: fired (with the reward) or not, and why (``code``, ``reason``)."""

    rule_id: str
    rule_name: str
    fired: bool
    code: str
    reason: str | None
    reward_id: str | None = None
    unit: str | None = None
    amount: Decimal | None = None
    capped: bool | None = None


class AttributionExplained(Output):
    """Whom it was attributed to: ``referred`` (a new referral), ``existing``, ``refused``
    (``code`` says why) or ``none``."""

    status: str
    via: str | None
    program_id: str | None
    promoter_id: str | None
    referral_id: str | None
    code: str | None
    message: str


class Explanation(Output, kw_only=True, omit_defaults=True):
    attribution: AttributionExplained | None = None  # clicks have none
    rules: list[RuleExplained]

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> Explanation:
        """The stored explanation (amounts kept as exact text) with a fixed field order."""
        return msgspec.convert(stored or {"rules": []}, cls)


class RewardSource(Output):
    type: str
    id: uuid.UUID


class RewardOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    rule_id: uuid.UUID
    promoter_id: uuid.UUID
    beneficiary: str
    customer_id: uuid.UUID | None
    referral_id: uuid.UUID | None
    source: RewardSource
    purchase_id: uuid.UUID | None
    unit: str
    amount: Decimal | int
    reversed: Decimal | int
    net: Decimal | int
    status: str
    void_reason: str | None
    hold_until: str
    approved_at: str | None
    paid_at: str | None
    voided_at: str | None
    payout_id: uuid.UUID | None
    created_at: str
    updated_at: str
    object: str = "reward"

    @classmethod
    def of(cls, r: Reward) -> RewardOut:
        def when(value: object) -> str | None:
            return None if value is None else format_time(value)  # type: ignore[arg-type]

        return cls(
            id=r.id,
            program_id=r.program_id,
            rule_id=r.rule_id,
            promoter_id=r.promoter_id,
            beneficiary=r.beneficiary,
            customer_id=r.customer_id,
            referral_id=r.referral_id,
            source=RewardSource(*r.source),
            purchase_id=r.purchase_id,
            unit=r.unit,
            amount=amount_of(r.amount_minor, r.unit),
            reversed=amount_of(r.reversed_minor, r.unit),
            net=amount_of(r.amount_minor - r.reversed_minor, r.unit),
            status=r.status,
            void_reason=r.void_reason,
            hold_until=format_time(r.hold_until),
            approved_at=when(r.approved_at),
            paid_at=when(r.paid_at),
            voided_at=when(r.voided_at),
            payout_id=r.payout_id,
            created_at=format_time(r.created_at),
            updated_at=format_time(r.changed_at),
        )


class VoidIn(Input):
    reason: ShortText
