"""The rules engine: (occurrence, rules, counters) → one decision per rule, with its reason.

Pure: no I/O, no clock. Everything it needs comes in as arguments, so it can be tested
exhaustively and replayed over history to see what a changed rule would have granted.

How the rules of a program combine:

- Every active rule is listed in the answer. A rule for another trigger is ``other_trigger``.
- Matching rules are independent: each that passes its checks grants its own reward.
- Rules that share an ``exclusive_group`` compete: of those that would grant, only the one
  with the largest amount pays (ties: the rule created first); the others say
  ``exclusive_group``.

The checks of one rule, in order (the first that fails is the reason):
``program_paused``/``program_archived`` → the occurrence's block (``self_referral``,
``no_referral``, ``already_referred``…) → ``currency_mismatch`` → ``outside_window`` →
``condition_false`` → ``zero_reward`` → ``limit_reached`` (per referral) →
``promoter_limit_reached`` (total per promoter per period; an amount cap grants what remains
below it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from goodwill.money import percentage_of
from goodwill.rules.conditions import Condition, evaluate

TRIGGERS = ("click", "lead", "purchase")
CUSTOM_PREFIX = "custom:"
PERIODS = ("day", "week", "month", "year", "lifetime")
POINTS = "points"


@dataclass(frozen=True)
class RewardSpec:
    type: str  # fixed | percentage | points
    amount_minor: int | None = None
    percent: Decimal | None = None
    cap_minor: int | None = None
    points: int | None = None


@dataclass(frozen=True)
class PromoterLimit:
    """At most ``max_count`` rewards / ``max_amount`` (in the reward's unit) per period."""

    period: str
    max_count: int | None = None
    max_amount: int | None = None


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID
    name: str
    trigger: str
    reward: RewardSpec
    condition: Condition | None = None
    beneficiary: str = "promoter"  # promoter | referred_customer
    per_referral: int | None = None
    window_days: int | None = None
    promoter_limit: PromoterLimit | None = None
    hold_days: int = 0
    exclusive_group: str | None = None


@dataclass(frozen=True)
class Block:
    """Why no rule may fire for this occurrence, e.g. ``("self_referral", "...")``."""

    code: str
    reason: str


@dataclass(frozen=True)
class Occurrence:
    """What happened, as the engine sees it.

    ``at`` is when it happened (windows are measured from the referral to it); ``now`` is when
    it is decided (hold periods and per-period limits count from it).
    """

    trigger: str
    at: datetime
    now: datetime
    program_status: str
    program_currency: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    amount_minor: int | None = None
    currency: str | None = None
    referred_at: datetime | None = None
    block: Block | None = None


@dataclass(frozen=True)
class Counters:
    """What the rules granted before, per rule id: rewards not voided.

    ``per_referral``: how many for this referral. ``per_promoter``: (count, net amount) for
    this promoter in the rule's current period (see :func:`period_start`).
    """

    per_referral: Mapping[uuid.UUID, int] = field(default_factory=dict)
    per_promoter: Mapping[uuid.UUID, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    rule_id: uuid.UUID
    rule_name: str
    fired: bool
    code: str  # "fired" or why not
    reason: str | None = None
    unit: str | None = None
    amount: int = 0  # minor units of the currency, or points
    beneficiary: str = "promoter"
    hold_until: datetime | None = None
    capped: bool = False


def unit_of(rule: Rule, program_currency: str) -> str:
    return POINTS if rule.reward.type == "points" else program_currency


def period_start(now: datetime, period: str) -> datetime | None:
    """The start of the current UTC calendar period (weeks start on Monday); None: lifetime."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    return None


def period_end(start: datetime, period: str) -> datetime:
    """Where the period that begins at ``start`` ends (exclusive)."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        year, month = divmod(start.month, 12)
        return start.replace(year=start.year + year, month=month + 1)
    assert period == "year"
    return start.replace(year=start.year + 1)


def reward_amount(spec: RewardSpec, amount_minor: int | None) -> tuple[int, bool] | Block:
    """The reward before limits, and whether the percentage cap cut it."""
    if spec.type == "fixed":
        assert spec.amount_minor is not None
        return spec.amount_minor, False
    if spec.type == "points":
        assert spec.points is not None
        return spec.points, False
    assert spec.percent is not None
    if amount_minor is None:
        return Block("no_amount", "a percentage needs an amount, and this occurrence has none")
    value = percentage_of(amount_minor, spec.percent)
    if spec.cap_minor is not None and value > spec.cap_minor:
        return spec.cap_minor, True
    return value, False


def _window_block(rule: Rule, occurrence: Occurrence) -> Block | None:
    if rule.window_days is None:
        return None
    if occurrence.referred_at is None:
        return Block("no_referral", "the rule has a window after the referral, and there is none")
    ends = occurrence.referred_at + timedelta(days=rule.window_days)
    if occurrence.at > ends:
        return Block(
            "outside_window",
            f"more than {rule.window_days} days after the referral (the window ended {_iso(ends)})",
        )
    return None


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _check(rule: Rule, occurrence: Occurrence, counters: Counters) -> Decision:
    def no(block: Block) -> Decision:
        return Decision(rule.id, rule.name, False, block.code, block.reason)

    if rule.trigger != occurrence.trigger:
        return no(Block("other_trigger", f"fires on {rule.trigger}, not {occurrence.trigger}"))
    if occurrence.program_status != "active":
        return no(
            Block(
                f"program_{occurrence.program_status}",
                f"the program is {occurrence.program_status}: it records events but grants nothing",
            )
        )
    if occurrence.block is not None:
        return no(occurrence.block)
    if occurrence.currency is not None and occurrence.currency != occurrence.program_currency:
        return no(
            Block(
                "currency_mismatch",
                f"the amount is in {occurrence.currency}, the program pays in "
                f"{occurrence.program_currency}",
            )
        )
    if (block := _window_block(rule, occurrence)) is not None:
        return no(block)
    holds, why = evaluate(rule.condition, occurrence.facts)
    if not holds:
        return no(Block("condition_false", why or "the conditions do not hold"))
    computed = reward_amount(rule.reward, occurrence.amount_minor)
    if isinstance(computed, Block):
        return no(computed)
    amount, capped = computed
    if amount <= 0:
        return no(Block("zero_reward", "the reward comes to 0"))
    if rule.per_referral is not None:
        granted = counters.per_referral.get(rule.id, 0)
        if granted >= rule.per_referral:
            return no(
                Block(
                    "limit_reached",
                    f"already granted {granted} time(s) for this referral (limit {rule.per_referral})",
                )
            )
    limit = rule.promoter_limit
    if limit is not None:
        count, total = counters.per_promoter.get(rule.id, (0, 0))
        span = "in all" if limit.period == "lifetime" else f"this {limit.period}"
        if limit.max_count is not None and count >= limit.max_count:
            return no(
                Block(
                    "promoter_limit_reached",
                    f"the promoter has {count} reward(s) from this rule {span} "
                    f"(limit {limit.max_count})",
                )
            )
        if limit.max_amount is not None:
            left = limit.max_amount - total
            if left <= 0:
                return no(
                    Block(
                        "promoter_limit_reached",
                        f"the promoter reached this rule's total of {limit.max_amount} {span} "
                        "(minor units)",
                    )
                )
            if amount > left:
                amount, capped = left, True
    hold_until = occurrence.now + timedelta(days=rule.hold_days)
    return Decision(
        rule.id,
        rule.name,
        True,
        "fired",
        None,
        unit_of(rule, occurrence.program_currency),
        amount,
        rule.beneficiary,
        hold_until,
        capped,
    )


def decide(
    occurrence: Occurrence, rules: Sequence[Rule], counters: Counters | None = None
) -> list[Decision]:
    """One decision per rule, in the order given (the order the rules were created)."""
    counters = counters or Counters()
    decisions = [_check(rule, occurrence, counters) for rule in rules]
    best: dict[str, int] = {}
    for index, (rule, decision) in enumerate(zip(rules, decisions, strict=True)):
        if decision.fired and rule.exclusive_group is not None:
            current = best.get(rule.exclusive_group)
            if current is None or decision.amount > decisions[current].amount:
                best[rule.exclusive_group] = index
    for index, (rule, decision) in enumerate(zip(rules, decisions, strict=True)):
        group = rule.exclusive_group
        if decision.fired and group is not None and best[group] != index:
            winner = decisions[best[group]]
            decisions[index] = Decision(
                rule.id,
                rule.name,
                False,
                "exclusive_group",
                f"in exclusive group {group!r}, rule {winner.rule_name!r} pays more",
            )
    return decisions
