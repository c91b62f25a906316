"""The settings each kind of program takes, validated on create and update."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.errors import FieldError, ValidationFailed
from goodwill.http.schema import Input, ShortText, Url
from goodwill.http.validation import convert
from goodwill.rules import conditions

Days = Annotated[int, msgspec.Meta(ge=0, le=3650)]


class ReferralSettings(Input):
    """A referral program: how long a click counts towards attribution, and where promoters'
    links lead unless a link says otherwise."""

    attribution_window_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    destination_url: Url | UnsetType = UNSET


class CardReward(Input):
    """What a full card gives, e.g. ``{"description": "A free coffee"}``."""

    description: ShortText
    value: Decimal | None = None


class StampsSettings(Input):
    """A stamp card: ``stamps_required`` stamps fill a card and give ``reward``."""

    stamps_required: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    reward: CardReward
    conditions: dict[str, Any] | None = None
    stamps_per_purchase: Literal["one", "per_item"] = "one"
    max_stamps_per_purchase: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None


class EarningRule(Input):
    """Points for a purchase (per unit of currency, or fixed) or for a custom event (fixed)."""

    trigger: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=r"^[^\x00]*$")]
    points_per_unit: Decimal | None = None
    fixed_points: Annotated[int, msgspec.Meta(ge=0)] | None = None
    rounding: Literal["floor", "half_even"] = "floor"
    conditions: dict[str, Any] | None = None


class PointsSettings(Input):
    """A points program: earning rules, a pending period and an expiry, in days."""

    earning_rules: list[EarningRule] = msgspec.field(default_factory=list)
    pending_days: Days = 0
    expiry_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


SETTINGS: dict[str, type[Input]] = {
    "referral": ReferralSettings,
    "stamps": StampsSettings,
    "points": PointsSettings,
}


def validate(kind: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Check ``raw`` against ``kind``'s settings; the normalized settings as JSON builtins."""
    typ = SETTINGS[kind]
    if raw is None:
        if kind == "stamps":
            raise ValidationFailed.single(
                "settings.stamps_required", "a stamps program needs stamps_required and reward"
            )
        raw = {}
    try:
        parsed = convert(raw, typ)
    except ValidationFailed as exc:
        raise ValidationFailed(
            [FieldError(f"settings.{e.param}", e.code, e.message) for e in exc.errors]
        ) from None
    _check_conditions(parsed)
    return msgspec.to_builtins(parsed)  # type: ignore[no-any-return]


def _check_conditions(parsed: Input) -> None:
    if isinstance(parsed, StampsSettings) and parsed.conditions is not None:
        conditions.parse(parsed.conditions, "settings.conditions")
    if isinstance(parsed, PointsSettings):
        for index, rule in enumerate(parsed.earning_rules):
            param = f"settings.earning_rules[{index}]"
            if rule.conditions is not None:
                conditions.parse(rule.conditions, f"{param}.conditions")
            if (rule.points_per_unit is None) == (rule.fixed_points is None):
                raise ValidationFailed.single(
                    param, "give exactly one of points_per_unit or fixed_points"
                )
            if rule.points_per_unit is not None and rule.trigger != "purchase":
                raise ValidationFailed.single(
                    f"{param}.points_per_unit",
                    "points per unit of currency apply to purchases only",
                )
            if rule.points_per_unit is not None and rule.points_per_unit <= 0:
                raise ValidationFailed.single(f"{param}.points_per_unit", "must be more than 0")
