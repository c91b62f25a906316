"""Reward rules: create, read, update, list; and loading a program's rules for the engine."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.repository import Repository
from goodwill.errors import FieldError, NotFound, ValidationFailed
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.links.schemas import UTM_FIELDS
from goodwill.money import MAX_MINOR, to_minor
from goodwill.programs import service as programs
from goodwill.programs.models import Program
from goodwill.rules import conditions
from goodwill.rules.engine import CUSTOM_PREFIX, TRIGGERS, PromoterLimit, RewardSpec, Rule
from goodwill.rules.models import RewardRule
from goodwill.rules.schemas import (
    LimitsIn,
    PromoterLimitIn,
    RewardIn,
    RuleCreate,
    RuleOut,
    RulePatch,
)

MAX_EVENT_NAME = 300

# The facts each trigger's rules see (docs/referrals.md, "The facts a rule sees"): exact names,
# and the prefixes of free-form ones (``customer.metadata.tier``).
_UTM = tuple(f"utm.{name}" for name in UTM_FIELDS)
_REFERRED = ("days_since_referral", "customer.id", "customer.email", "customer.source_id")
_PEOPLE = ("customer.metadata.", "promoter.metadata.")
FACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "click": ((*_UTM, "referrer"), ()),
    "lead": ((*_REFERRED, *_UTM, "event.name"), (*_PEOPLE, "event.metadata.")),
    "purchase": (
        ("amount", "currency", "product_ids", "item_ids", "purchase_number", *_REFERRED, *_UTM),
        _PEOPLE,
    ),
    CUSTOM_PREFIX: ((*_REFERRED, "event.name"), (*_PEOPLE, "event.metadata.")),
}


class RuleRepository(Repository[RewardRule]):
    model = RewardRule
    noun = "rule"


def _trigger_error(trigger: str) -> str | None:
    if trigger in TRIGGERS:
        return None
    if trigger.startswith(CUSTOM_PREFIX):
        name = trigger[len(CUSTOM_PREFIX) :]
        if 1 <= len(name) <= MAX_EVENT_NAME:
            return None
        return f"a custom event name is 1-{MAX_EVENT_NAME} characters"
    return "must be click, lead, purchase, or custom:<event name> (e.g. custom:signed_up)"


def _reward_columns(
    reward: RewardIn, trigger: str, currency: str, errors: list[FieldError]
) -> dict[str, Any]:
    def err(param: str, message: str) -> None:
        errors.append(FieldError(f"reward.{param}", "invalid", message))

    allowed = {"fixed": {"amount"}, "percentage": {"percent", "cap"}, "points": {"points"}}
    for name in ("amount", "percent", "cap", "points"):
        if getattr(reward, name) is not None and name not in allowed[reward.type]:
            err(name, f"does not apply to a {reward.type} reward")
    columns: dict[str, Any] = {
        "reward_type": reward.type,
        "amount_minor": None,
        "percent": None,
        "cap_minor": None,
        "points": None,
    }

    def money(name: str, value: Decimal) -> int | None:
        try:
            minor = to_minor(value, currency, f"reward.{name}")
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            return None
        if minor <= 0:
            err(name, "must be more than 0")
        return minor

    if reward.type == "fixed":
        if reward.amount is None:
            err("amount", f"a fixed reward needs an amount in {currency}")
        else:
            columns["amount_minor"] = money("amount", reward.amount)
    elif reward.type == "percentage":
        if trigger != "purchase":
            err("type", "a percentage is of a purchase's amount: use it with trigger purchase")
        if reward.percent is None:
            err("percent", "a percentage reward needs percent, e.g. 10 for 10%")
        elif not reward.percent.is_finite() or not 0 < reward.percent <= 100:
            err("percent", "must be more than 0 and at most 100")
        else:
            columns["percent"] = str(reward.percent)
        if reward.cap is not None:
            columns["cap_minor"] = money("cap", reward.cap)
    else:
        if reward.points is None:
            err("points", "a points reward needs points")
        columns["points"] = reward.points
    return columns


def _limit_columns(
    limits: LimitsIn, trigger: str, reward_type: str, currency: str, errors: list[FieldError]
) -> dict[str, Any]:
    if trigger == "click":
        for name in ("per_referral", "window_days"):
            if getattr(limits, name) is not None:
                errors.append(
                    FieldError(f"limits.{name}", "invalid", "a click has no referral to count from")
                )
    columns: dict[str, Any] = {
        "per_referral": limits.per_referral,
        "window_days": limits.window_days,
        "promoter_period": None,
        "promoter_max_count": None,
        "promoter_max_amount": None,
    }
    per = limits.per_promoter
    if per is None:
        return columns
    param = "limits.per_promoter"
    if per.max_count is None and per.max_amount is None:
        errors.append(FieldError(param, "invalid", "give max_count, max_amount or both"))
    columns["promoter_period"] = per.period
    columns["promoter_max_count"] = per.max_count
    if per.max_amount is not None:
        if reward_type == "points":
            whole = per.max_amount.is_finite() and per.max_amount == per.max_amount.to_integral()
            if not whole or not 1 <= per.max_amount <= MAX_MINOR:
                errors.append(
                    FieldError(
                        f"{param}.max_amount",
                        "invalid",
                        f"is a whole number of points, from 1 to {MAX_MINOR}",
                    )
                )
            else:
                columns["promoter_max_amount"] = int(per.max_amount)
        else:
            try:
                columns["promoter_max_amount"] = to_minor(
                    per.max_amount, currency, f"{param}.max_amount"
                )
            except ValidationFailed as exc:
                errors.extend(exc.errors)
    return columns


def _unknown_facts(raw: dict[str, Any], trigger: str) -> list[FieldError]:
    """A condition on a field the trigger's events do not have would never hold: refuse it."""
    key = CUSTOM_PREFIX if trigger.startswith(CUSTOM_PREFIX) else trigger
    if key not in FACTS:  # a bad trigger, reported on its own
        return []
    exact, prefixes = FACTS[key]
    known = ", ".join([*exact, *(f"{p}<key>" for p in prefixes)])
    return [
        FieldError(
            path,
            "invalid",
            f"{field!r} is not a fact of a {key.rstrip(':')} event; the facts are: {known}",
        )
        for path, field in conditions.leaf_fields(raw)
        if field not in exact
        and not any(field.startswith(p) and len(field) > len(p) for p in prefixes)
    ]


def _columns(data: RuleCreate, currency: str) -> dict[str, Any]:
    """The table columns for a whole rule, or every problem with it, each with its path."""
    errors: list[FieldError] = []
    if (problem := _trigger_error(data.trigger)) is not None:
        errors.append(FieldError("trigger", "invalid", problem))
    if data.trigger == "click" and data.beneficiary == "referred_customer":
        errors.append(
            FieldError("beneficiary", "invalid", "a click has no referred customer to reward")
        )
    columns = _reward_columns(data.reward, data.trigger, currency, errors)
    columns.update(_limit_columns(data.limits, data.trigger, data.reward.type, currency, errors))
    tree = None
    if data.conditions is not None:
        try:
            tree = conditions.parse(data.conditions, "conditions")
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        else:
            errors.extend(_unknown_facts(data.conditions, data.trigger))
    if errors:
        raise ValidationFailed(errors)
    columns.update(
        name=data.name,
        trigger=data.trigger,
        conditions=conditions.to_json(tree),
        beneficiary=data.beneficiary,
        hold_days=data.hold_days,
        exclusive_group=data.exclusive_group,
        active=data.active,
    )
    return columns


async def _referral_program(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID
) -> Program:
    return await programs.get(session, workspace_id, program_id, kind="referral")


async def create(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    data: RuleCreate,
    now: datetime,
) -> tuple[RewardRule, Program]:
    program = await _referral_program(session, workspace_id, program_id)
    rule = RewardRule(
        id=new_id(),
        workspace_id=workspace_id,
        program_id=program.id,
        created_at=now,
        updated_at=now,
        **_columns(data, program.currency),
    )
    session.add(rule)
    await session.flush()
    programs.config_changed(session)
    await _record_set(session, workspace_id, program.id, now)
    return rule, program


async def _record_set(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID, now: datetime
) -> None:
    from goodwill.workspaces import config  # it reads rules: it sits above them

    await config.record_rules(session, workspace_id, program_id, now)


def _as_input(rule: RewardRule, currency: str) -> RuleCreate:
    """The stored rule as a create body, so a patch is validated as a whole rule."""
    out = RuleOut.of(rule, currency)
    per = out.limits.per_promoter
    return RuleCreate(
        name=out.name,
        trigger=out.trigger,
        reward=RewardIn(
            type=out.reward.type,  # type: ignore[arg-type]
            amount=out.reward.amount,
            percent=out.reward.percent,
            cap=out.reward.cap,
            points=out.reward.points,
        ),
        conditions=out.conditions,
        beneficiary=out.beneficiary,  # type: ignore[arg-type]
        limits=LimitsIn(
            per_referral=out.limits.per_referral,
            window_days=out.limits.window_days,
            per_promoter=None
            if per is None
            else PromoterLimitIn(
                period=per.period,  # type: ignore[arg-type]
                max_count=per.max_count,
                max_amount=None if per.max_amount is None else Decimal(per.max_amount),
            ),
        ),
        hold_days=out.hold_days,
        exclusive_group=out.exclusive_group,
        active=out.active,
    )


async def patch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    rule_id: uuid.UUID,
    *,
    data: RulePatch,
    now: datetime,
) -> tuple[RewardRule, Program]:
    program = await _referral_program(session, workspace_id, program_id)
    rule = await get_in_program(session, workspace_id, program.id, rule_id, for_update=True)
    merged = _as_input(rule, program.currency)
    for name in RulePatch.__struct_fields__:
        value = getattr(data, name)
        if value is not UNSET:
            setattr(merged, name, value)
    for key, value in _columns(merged, program.currency).items():
        setattr(rule, key, value)
    rule.updated_at = now
    await session.flush()
    programs.config_changed(session)
    await _record_set(session, workspace_id, program.id, now)
    return rule, program


async def get_in_program(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    rule_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> RewardRule:
    rule = await RuleRepository(session, workspace_id).get(rule_id, for_update=for_update)
    if rule.program_id != program_id:
        raise NotFound(f"No rule {rule_id}")
    return rule


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID, rule_id: uuid.UUID
) -> tuple[RewardRule, Program]:
    program = await _referral_program(session, workspace_id, program_id)
    return await get_in_program(session, workspace_id, program.id, rule_id), program


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    *,
    trigger: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[RewardRule], str | None, Program]:
    program = await _referral_program(session, workspace_id, program_id)
    stmt = RuleRepository(session, workspace_id).select().where(RewardRule.program_id == program.id)
    if trigger is not None:
        stmt = stmt.where(RewardRule.trigger == trigger)
    if active is not None:
        stmt = stmt.where(RewardRule.active.is_(active))
    rows, next_cursor = await fetch_page(session, stmt, RewardRule.id, limit, cursor)
    return rows, next_cursor, program


# The columns a rule is made of, in the order :func:`rule_of` reads them from a row.
RULE_FIELDS = (
    "id",
    "name",
    "trigger",
    "conditions",
    "reward_type",
    "amount_minor",
    "percent",
    "cap_minor",
    "points",
    "beneficiary",
    "per_referral",
    "window_days",
    "promoter_period",
    "promoter_max_count",
    "promoter_max_amount",
    "hold_days",
    "exclusive_group",
)


def rule_of(fields: Mapping[str, Any]) -> Rule:
    """The engine's rule from a rule's stored columns (:data:`RULE_FIELDS`)."""
    limit = None
    if fields["promoter_period"] is not None:
        limit = PromoterLimit(
            period=fields["promoter_period"],
            max_count=fields["promoter_max_count"],
            max_amount=fields["promoter_max_amount"],
        )
    percent = fields["percent"]
    condition = fields["conditions"]
    return Rule(
        id=fields["id"],
        name=fields["name"],
        trigger=fields["trigger"],
        reward=RewardSpec(
            type=fields["reward_type"],
            amount_minor=fields["amount_minor"],
            percent=None if percent is None else Decimal(percent),
            cap_minor=fields["cap_minor"],
            points=fields["points"],
        ),
        condition=None if condition is None else conditions.parse(condition),
        beneficiary=fields["beneficiary"],
        per_referral=fields["per_referral"],
        window_days=fields["window_days"],
        promoter_limit=limit,
        hold_days=fields["hold_days"],
        exclusive_group=fields["exclusive_group"],
    )


def to_engine(rule: RewardRule) -> Rule:
    return rule_of({name: getattr(rule, name) for name in RULE_FIELDS})


async def active_rules(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID
) -> list[Rule]:
    """The program's active rules for the engine, oldest first (ties in a group go to it)."""
    stmt = (
        RuleRepository(session, workspace_id)
        .select()
        .where(RewardRule.program_id == program_id, RewardRule.active.is_(True))
        .order_by(RewardRule.id)
    )
    return [to_engine(rule) for rule in (await session.scalars(stmt)).all()]
