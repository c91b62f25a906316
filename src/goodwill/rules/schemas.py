"""Reward rules as the API reads and writes them (docs/referrals.md has the format)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.http.schema import Input, Output, ShortText
from goodwill.money import from_minor
from goodwill.rules.models import RewardRule

Trigger = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=310,
        pattern=r"^[^\x00]*$",
        description="click, lead, purchase, or custom:<event name>",
        examples=["purchase", "custom:signed_up"],
    ),
]
RewardType = Literal["fixed", "percentage", "points"]
Beneficiary = Literal["promoter", "referred_customer"]
Period = Literal["day", "week", "month", "year", "lifetime"]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Days = Annotated[int, msgspec.Meta(ge=0, le=3650)]


class RewardIn(Input):
    """``fixed``: ``amount``; ``percentage``: ``percent`` (and an optional ``cap``);
    ``points``: ``points``. Amounts are in the program's currency."""

    type: RewardType
    amount: Decimal | None = None
    percent: Decimal | None = None
    cap: Decimal | None = None
    points: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] | None = None


class PromoterLimitIn(Input):
    """A total per promoter per UTC calendar period: a count, an amount, or both."""

    period: Period
    max_count: Count | None = None
    max_amount: Decimal | None = None


class LimitsIn(Input):
    per_referral: Count | None = None
    window_days: Days | None = None
    per_promoter: PromoterLimitIn | None = None


class RuleCreate(Input):
    name: ShortText
    trigger: Trigger
    reward: RewardIn
    conditions: dict[str, Any] | None = None
    beneficiary: Beneficiary = "promoter"
    limits: LimitsIn = msgspec.field(default_factory=LimitsIn)
    hold_days: Days = 30
    exclusive_group: ShortText | None = None
    active: bool = True


class RulePatch(Input):
    name: ShortText | UnsetType = UNSET
    trigger: Trigger | UnsetType = UNSET
    reward: RewardIn | UnsetType = UNSET
    conditions: dict[str, Any] | UnsetType | None = UNSET
    beneficiary: Beneficiary | UnsetType = UNSET
    limits: LimitsIn | UnsetType = UNSET
    hold_days: Days | UnsetType = UNSET
    exclusive_group: ShortText | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class RewardOut(Output, omit_defaults=True):
    type: str
    amount: Decimal | None = None
    percent: Decimal | None = None
    cap: Decimal | None = None
    points: int | None = None


class PromoterLimitOut(Output):
    period: str
    max_count: int | None
    max_amount: Decimal | int | None


class LimitsOut(Output):
    per_referral: int | None
    window_days: int | None
    per_promoter: PromoterLimitOut | None


class RuleOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    name: str
    trigger: str
    conditions: dict[str, Any] | None
    reward: RewardOut
    beneficiary: str
    limits: LimitsOut
    hold_days: int
    exclusive_group: str | None
    active: bool
    created_at: str
    updated_at: str
    object: str = "rule"

    @classmethod
    def of(cls, r: RewardRule, currency: str) -> RuleOut:
        def money(minor: int | None) -> Decimal | None:
            return None if minor is None else from_minor(minor, currency)

        per_promoter = None
        if r.promoter_period is not None:
            max_amount: Decimal | int | None = r.promoter_max_amount
            if r.reward_type != "points":
                max_amount = money(r.promoter_max_amount)
            per_promoter = PromoterLimitOut(
                period=r.promoter_period, max_count=r.promoter_max_count, max_amount=max_amount
            )
        return cls(
            id=r.id,
            program_id=r.program_id,
            name=r.name,
            trigger=r.trigger,
            conditions=r.conditions,
            reward=RewardOut(
                type=r.reward_type,
                amount=money(r.amount_minor),
                percent=None if r.percent is None else Decimal(r.percent),
                cap=money(r.cap_minor),
                points=r.points,
            ),
            beneficiary=r.beneficiary,
            limits=LimitsOut(
                per_referral=r.per_referral, window_days=r.window_days, per_promoter=per_promoter
            ),
            hold_days=r.hold_days,
            exclusive_group=r.exclusive_group,
            active=r.active,
            created_at=format_time(r.created_at),
            updated_at=format_time(r.updated_at),
        )
