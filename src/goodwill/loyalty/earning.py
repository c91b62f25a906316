"""How many stamps and points something earns: pure functions of (settings, facts).

No I/O here, so every rule below is tested directly and can be replayed over history.

Stamps
    A purchase qualifies when it is in the program's currency and meets ``conditions``. It gives
    one stamp (``stamps_per_purchase: one``), or one per unit of each item that meets
    ``item_conditions`` (``per_item``), at most ``max_stamps_per_purchase`` (and never more than
    1000). A purchase without items gives no ``per_item`` stamps.

    A refund voids stamps. A full refund voids all of the purchase's stamps. A partial refund
    re-checks the purchase with its remaining amount (amount − everything refunded so far): if it
    no longer meets ``conditions``, all its stamps are voided; otherwise a ``one`` purchase keeps
    its stamp and a ``per_item`` purchase keeps ``floor(stamps × remaining / amount)`` of them
    (refunds are known by amount, not by item).

Points
    Each earning rule whose trigger matches and whose conditions hold adds its points: a fixed
    number, or ``amount × points_per_unit`` where ``amount`` is the purchase amount in the major
    unit of the program's currency, rounded down (``floor``) or half-even (``half_even``) to a
    whole point. Purchases in another currency earn nothing in that program. One purchase or
    event earns at most ``MAX_POINTS_PER_EARNING`` (10^15, the most one redemption can spend)
    in a program, all its rules together: the rules past that cap give less, in their order.

    A refund claws back ``round_half_even(points × refunded / amount)`` of what the purchase
    earned (all of it for a full refund); see ``goodwill.loyalty.points``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

import msgspec

from goodwill.loyalty.facts import (
    EventFacts,
    PurchaseFacts,
    event_facts,
    item_facts,
    purchase_facts,
)
from goodwill.money import from_minor
from goodwill.programs.settings import (
    MAX_POINTS_PER_EARNING,
    MAX_STAMPS_PER_PURCHASE,
    EarningRule,
    PointsSettings,
    StampsSettings,
)
from goodwill.rules import conditions

T = TypeVar("T")

PURCHASE_TRIGGER = "purchase"


_PARSED: dict[int, tuple[Mapping[str, Any], Any]] = {}


def _parsed(raw: Mapping[str, Any], kind: type[T]) -> T:
    """``raw`` as ``kind``, converted once per settings object (a program's settings come from
    the per-process configuration snapshot, the same object for every purchase)."""
    found = _PARSED.get(id(raw))
    if found is not None and found[0] is raw and isinstance(found[1], kind):
        return found[1]
    if len(_PARSED) > 10_000:
        _PARSED.clear()
    value = msgspec.convert(raw, kind)
    _PARSED[id(raw)] = (raw, value)
    return value


def stamps_settings(raw: Mapping[str, Any]) -> StampsSettings:
    return _parsed(raw, StampsSettings)


def points_settings(raw: Mapping[str, Any]) -> PointsSettings:
    return _parsed(raw, PointsSettings)


def _holds(tree: dict[str, Any] | None, facts: dict[str, Any]) -> tuple[bool, str | None]:
    parsed = None if tree is None else conditions.parse(tree)
    return conditions.evaluate(parsed, facts)


def stamps_for(
    settings: StampsSettings, currency: str, purchase: PurchaseFacts
) -> tuple[int, str | None]:
    """Stamps ``purchase`` earns in a stamps program of ``currency``; if none, why."""
    if purchase.currency != currency:
        return 0, f"the purchase is in {purchase.currency}, the program in {currency}"
    holds, why = _holds(settings.conditions, purchase_facts(purchase))
    if not holds:
        return 0, why
    if settings.stamps_per_purchase == "one":
        return 1, None
    count = 0
    for item in purchase.items:
        ok, _ = _holds(settings.item_conditions, item_facts(item, purchase.currency))
        if ok:
            count += max(item.quantity, 0)
    cap = settings.max_stamps_per_purchase or MAX_STAMPS_PER_PURCHASE
    count = min(count, cap, MAX_STAMPS_PER_PURCHASE)
    return count, None if count else "no item of the purchase qualifies"


def stamps_kept_after_refund(
    settings: StampsSettings,
    purchase: PurchaseFacts,
    *,
    stamps_given: int,
    refunded_minor_total: int,
    fully_refunded: bool,
) -> int:
    """How many of the ``stamps_given`` for ``purchase`` survive its refunds (see the module)."""
    remaining = purchase.amount_minor - refunded_minor_total
    if fully_refunded or remaining <= 0 or purchase.amount_minor <= 0:
        return 0
    holds, _ = _holds(settings.conditions, purchase_facts(purchase, remaining))
    if not holds:
        return 0
    if settings.stamps_per_purchase == "one":
        return min(stamps_given, 1)
    return stamps_given * remaining // purchase.amount_minor


@dataclass(frozen=True)
class Earned:
    rule_index: int
    points: int


def _rule_points(rule: EarningRule, amount: Decimal) -> int:
    if rule.fixed_points is not None:
        return rule.fixed_points
    assert rule.points_per_unit is not None
    rounding = ROUND_FLOOR if rule.rounding == "floor" else ROUND_HALF_EVEN
    return int((amount * rule.points_per_unit).quantize(Decimal(1), rounding=rounding))


def _capped(earned: list[Earned]) -> list[Earned]:
    """The rules' points, cut so that together they are at most ``MAX_POINTS_PER_EARNING``
    (``amount × points_per_unit`` can be far more: 10^13 EUR at 10^6 points a euro)."""
    room = MAX_POINTS_PER_EARNING
    kept = []
    for e in earned:
        if room == 0:
            break
        kept.append(Earned(e.rule_index, min(e.points, room)))
        room -= kept[-1].points
    return kept


def purchase_points(
    settings: PointsSettings, currency: str, purchase: PurchaseFacts
) -> tuple[list[Earned], str | None]:
    """Points each purchase rule gives ``purchase`` in a program of ``currency``; if none, why."""
    if purchase.currency != currency:
        return [], f"the purchase is in {purchase.currency}, the program in {currency}"
    facts = purchase_facts(purchase)
    amount = from_minor(purchase.amount_minor, purchase.currency)
    earned: list[Earned] = []
    reasons: list[str] = []
    for index, rule in enumerate(settings.earning_rules):
        if rule.trigger != PURCHASE_TRIGGER:
            continue
        holds, why = _holds(rule.conditions, facts)
        if not holds:
            reasons.append(f"rule {index}: {why}")
            continue
        points = _rule_points(rule, amount)
        if points > 0:
            earned.append(Earned(index, points))
        else:
            reasons.append(f"rule {index}: rounds to 0 points")
    if earned:
        return _capped(earned), None
    return [], "; ".join(reasons) or "no earning rule for purchases"


def event_points(settings: PointsSettings, event: EventFacts) -> tuple[list[Earned], str | None]:
    """Points the rules triggered by ``event.name`` give; if none, why."""
    facts = event_facts(event)
    earned: list[Earned] = []
    reasons: list[str] = []
    for index, rule in enumerate(settings.earning_rules):
        if rule.trigger == PURCHASE_TRIGGER or rule.trigger != event.name:
            continue
        holds, why = _holds(rule.conditions, facts)
        if not holds:
            reasons.append(f"rule {index}: {why}")
            continue
        assert rule.fixed_points is not None  # settings refuse rates on custom events
        earned.append(Earned(index, rule.fixed_points))
    if earned:
        return _capped(earned), None
    return [], "; ".join(reasons) or f"no earning rule for {event.name!r}"
