"""The settings each kind of program takes, validated on create and update.

Stamps and points settings are read by the loyalty engine (``goodwill.loyalty.earning``), which
documents how each field is applied: which purchases qualify, how many stamps a purchase gives,
how points are computed and rounded, and when they become available and expire.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.errors import FieldError, ValidationFailed
from goodwill.http.schema import Input, ShortText, Url
from goodwill.http.validation import convert
from goodwill.money import to_minor
from goodwill.rules import conditions

Days = Annotated[int, msgspec.Meta(ge=0, le=3650)]
# A purchase never gives more stamps than this, whatever the settings say.
MAX_STAMPS_PER_PURCHASE = 1000
MAX_FIXED_POINTS = 1_000_000_000
# The most points one purchase or event earns in a program, and one redemption spends: a
# ledger row's points are a 64-bit integer (up to 9.2 × 10^18), which an uncapped
# ``amount × points_per_unit`` can exceed.
MAX_POINTS_PER_EARNING = 10**15


class ReferralSettings(Input):
    """A referral program: how long a click counts towards attribution, and where promoters'
    links lead unless a link says otherwise."""

    attribution_window_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    destination_url: Url | UnsetType = UNSET


class CardReward(Input):
    """What a full card gives, e.g. ``{"description": "A free coffee"}``; ``value``, if given,
    is an amount in the program's currency (exact, at most its minor unit's decimals)."""

    description: ShortText
    value: Decimal | None = None


class StampsSettings(Input):
    """A stamp card: ``stamps_required`` stamps fill a card and give ``reward``.

    ``conditions`` decide whether a purchase qualifies (facts: ``amount``, ``currency``,
    ``product_ids``, ``item_ids``, ``quantity``, ``customer.metadata.*``, ``utm.*``).
    ``stamps_per_purchase`` is ``one``, or ``per_item``: one stamp per unit of each item that meets
    ``item_conditions`` (facts: ``product_id``, ``item_id``, ``quantity``, ``amount``), at most
    ``max_stamps_per_purchase``.
    """

    stamps_required: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    reward: CardReward
    conditions: dict[str, Any] | None = None
    stamps_per_purchase: Literal["one", "per_item"] = "one"
    item_conditions: dict[str, Any] | None = None
    max_stamps_per_purchase: (
        Annotated[int, msgspec.Meta(ge=1, le=MAX_STAMPS_PER_PURCHASE)] | None
    ) = None


class EarningRule(Input):
    """Points for a purchase (per unit of currency, or fixed) or for a custom event (fixed).

    ``trigger`` is ``purchase`` or the name of a custom event. ``points_per_unit`` multiplies the
    purchase amount in the program currency's major unit and rounds with ``rounding`` (``floor``
    by default, or ``half_even``). ``conditions`` see the purchase facts, or for a custom event
    ``event.name``, ``event.metadata.*`` and ``customer.metadata.*``.
    """

    trigger: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=r"^[^\x00]*$")]
    points_per_unit: Decimal | None = None
    fixed_points: Annotated[int, msgspec.Meta(ge=1, le=MAX_FIXED_POINTS)] | None = None
    rounding: Literal["floor", "half_even"] = "floor"
    conditions: dict[str, Any] | None = None


class PointsSettings(Input):
    """A points program: earning rules, a pending period and an expiry, in days.

    Points earned at ``t`` are pending until ``t + pending_days`` and expire at
    ``t + expiry_days`` (never, without ``expiry_days``), which must be later.
    """

    earning_rules: list[EarningRule] = msgspec.field(default_factory=list)
    pending_days: Days = 0
    expiry_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


SETTINGS: dict[str, type[Input]] = {
    "referral": ReferralSettings,
    "stamps": StampsSettings,
    "points": PointsSettings,
}


def validate(kind: str, raw: dict[str, Any] | None, currency: str) -> dict[str, Any]:
    """Check ``raw`` against the settings of a ``kind`` program in ``currency``; the normalized
    settings as JSON builtins."""
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
    _check_conditions(parsed, currency)
    return msgspec.to_builtins(parsed)  # type: ignore[no-any-return]


def _check_conditions(parsed: Input, currency: str) -> None:
    if isinstance(parsed, StampsSettings):
        _check_stamps(parsed, currency)
    if isinstance(parsed, PointsSettings):
        _check_points(parsed)


def _check_stamps(parsed: StampsSettings, currency: str) -> None:
    if parsed.conditions is not None:
        conditions.parse(parsed.conditions, "settings.conditions")
    if parsed.item_conditions is not None:
        conditions.parse(parsed.item_conditions, "settings.item_conditions")
    if parsed.stamps_per_purchase == "one":
        for field in ("item_conditions", "max_stamps_per_purchase"):
            if getattr(parsed, field) is not None:
                raise ValidationFailed.single(
                    f"settings.{field}", 'applies only with stamps_per_purchase "per_item"'
                )
    if parsed.reward.value is not None:
        to_minor(parsed.reward.value, currency, "settings.reward.value")


def _check_points(parsed: PointsSettings) -> None:
    if parsed.expiry_days is not None and parsed.expiry_days <= parsed.pending_days:
        raise ValidationFailed.single(
            "settings.expiry_days",
            f"must be more than pending_days ({parsed.pending_days}): "
            "points would expire before they become available",
        )
    for index, rule in enumerate(parsed.earning_rules):
        param = f"settings.earning_rules[{index}]"
        if rule.conditions is not None:
            conditions.parse(rule.conditions, f"{param}.conditions")
        if (rule.points_per_unit is None) == (rule.fixed_points is None):
            raise ValidationFailed.single(
                param, "give exactly one of points_per_unit or fixed_points"
            )
        if rule.points_per_unit is not None:
            _check_rate(rule.points_per_unit, rule.trigger, f"{param}.points_per_unit")


def _check_rate(rate: Decimal, trigger: str, param: str) -> None:
    if trigger != "purchase":
        raise ValidationFailed.single(param, "points per unit of currency apply to purchases only")
    if not rate.is_finite() or rate <= 0:
        raise ValidationFailed.single(param, "must be more than 0")
    if rate > 1_000_000 or rate.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValidationFailed.single(param, "must be at most 1000000, with at most 6 decimals")
