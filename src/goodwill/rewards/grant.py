"""Firing a program's rules for one occurrence: counters in, engine, rewards and ledger out.

The decisions come from the pure engine (:mod:`goodwill.rules.engine`); this module only reads
what it needs (the active rules, what they granted before) and writes what it decided: the
reward rows (each its own ledger entry: goodwill.rewards.ledger) and their events, with
Core inserts.

The caller holds the lock that makes the counters exact: the referral's customer row
(purchases, leads and conversions all lock it first). Per-promoter limits also lock the
promoter row, here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import Sql, insert_into, raw, view
from goodwill.events.service import write_with_outbox
from goodwill.ids import new_id
from goodwill.rewards.models import Reward
from goodwill.rewards.schemas import amount_of
from goodwill.rewards.service import created_row, emit_reward
from goodwill.rules.engine import (
    Counters,
    Decision,
    Occurrence,
    Rule,
    decide,
    period_end,
    period_start,
)
from goodwill.workspaces import config as workspace_config
from goodwill.workspaces.config import ProgramInfo

REWARDS: Table = Reward.__table__  # type: ignore[assignment]
_INSERT = insert_into(REWARDS)
_LOCK_PROMOTER = Sql(
    "SELECT id FROM promoters WHERE workspace_id = :workspace_id AND id = :id FOR UPDATE"
)


@dataclass(frozen=True)
class Firing:
    """What one occurrence granted: every rule's decision, and the rewards written."""

    decisions: list[Decision]
    rewards: list[Reward]
    reward_ids: dict[uuid.UUID, uuid.UUID]  # rule id → reward id, for the rules that fired


@dataclass(frozen=True)
class Target:
    """Who and what the rewards are for."""

    program: ProgramInfo
    promoter_id: uuid.UUID
    referral_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    source_type: str  # purchase | lead | click | event
    source_id: uuid.UUID
    purchase_id: uuid.UUID | None = None


def _in(prefix: str, values: Sequence[uuid.UUID]) -> tuple[str, dict[str, Any]]:
    """``:prefix0, :prefix1, …`` and their values, for an ``IN (…)`` of a few ids."""
    params: dict[str, Any] = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{name}" for name in params), params


_STATEMENTS: dict[str, Sql] = {}


def _sql(text: str) -> Sql:
    """One :class:`Sql` per distinct text (the counters' texts vary with the number of rules)."""
    found = _STATEMENTS.get(text)
    if found is None:
        found = _STATEMENTS[text] = Sql(text)
    return found


async def _counters(
    session: AsyncSession, target: Target, rules: Sequence[Rule], occurrence: Occurrence
) -> Counters:
    relevant = [r for r in rules if r.trigger == occurrence.trigger]
    per_referral_rules = [r.id for r in relevant if r.per_referral is not None]
    per_referral: dict[uuid.UUID, int] = {}
    workspace_id = target.program.workspace_id
    db = await raw(session)
    if per_referral_rules and target.referral_id is not None:
        ids, params = _in("rule", per_referral_rules)
        rows = await db.all(
            _sql(
                "SELECT rule_id, count(*) FROM rewards WHERE workspace_id = :workspace_id "  # noqa: S608 - only placeholders are interpolated
                f"AND referral_id = :referral_id AND rule_id IN ({ids}) "
                "AND status <> 'voided' GROUP BY rule_id"
            ),
            workspace_id=workspace_id,
            referral_id=target.referral_id,
            **params,
        )
        per_referral = {db.uuid_of(rule_id): int(n) for rule_id, n in rows}
    limited = [r for r in relevant if r.promoter_limit is not None]
    per_promoter: dict[uuid.UUID, tuple[int, int]] = {}
    if limited:
        if db.dialect == "postgresql":
            await db.run(_LOCK_PROMOTER, workspace_id=workspace_id, id=target.promoter_id)
        by_period: dict[str, list[uuid.UUID]] = {}
        for rule in limited:
            assert rule.promoter_limit is not None
            by_period.setdefault(rule.promoter_limit.period, []).append(rule.id)
        for period, rule_ids in by_period.items():
            ids, params = _in("rule", rule_ids)
            text = (
                "SELECT rule_id, count(*), sum(amount_minor - reversed_minor) FROM rewards "  # noqa: S608 - only placeholders are interpolated
                "WHERE workspace_id = :workspace_id AND promoter_id = :promoter_id "
                f"AND rule_id IN ({ids}) AND status <> 'voided'"
            )
            start = period_start(occurrence.now, period)
            if start is not None:  # this calendar period only; lifetime: every reward
                text += " AND created_at >= :start AND created_at < :end"
                params.update(start=start, end=period_end(start, period))
            rows = await db.all(
                _sql(text + " GROUP BY rule_id"),
                workspace_id=workspace_id,
                promoter_id=target.promoter_id,
                **params,
            )
            for rule_id, n, total in rows:
                per_promoter[db.uuid_of(rule_id)] = (int(n), int(total or 0))
    return Counters(per_referral=per_referral, per_promoter=per_promoter)


async def decide_for(
    session: AsyncSession, target: Target, occurrence: Occurrence
) -> tuple[list[Decision], dict[uuid.UUID, uuid.UUID]]:
    """The decisions, and a fresh reward id for each rule that fires (nothing written)."""
    config = await workspace_config.current(session, target.program.workspace_id)
    rules = config.rules.get(target.program.id, ())
    counters = Counters()
    if occurrence.block is None and occurrence.program_status == "active":
        counters = await _counters(session, target, rules, occurrence)
    decisions = decide(occurrence, rules, counters)
    return decisions, {d.rule_id: new_id() for d in decisions if d.fired}


async def write(
    session: AsyncSession,
    target: Target,
    decisions: Sequence[Decision],
    reward_ids: dict[uuid.UUID, uuid.UUID],
    *,
    now: datetime,
    source: str,
    with_outbox: bool = False,
) -> list[Reward]:
    """Write the rewards the decisions grant (each its own ``earned`` ledger entry), then their
    events.

    ``with_outbox``: the rows are written with the transaction's events
    (``goodwill.events.service.write_with_outbox``), for a caller that reads no rewards back
    before it commits (a new purchase: its rules were decided before)."""
    rows: list[dict[str, Any]] = []
    for decision in decisions:
        if not decision.fired:
            continue
        assert decision.unit is not None
        assert decision.hold_until is not None
        # A reward names its customer exactly when the customer receives it (Reward.beneficiary).
        to_customer = decision.beneficiary == "referred_customer"
        if to_customer and target.customer_id is None:
            raise ValueError(f"rule {decision.rule_id} rewards a referred customer, and none is")
        rows.append(
            created_row(
                {
                    "id": reward_ids[decision.rule_id],
                    "workspace_id": target.program.workspace_id,
                    "program_id": target.program.id,
                    "rule_id": decision.rule_id,
                    "referral_id": target.referral_id,
                    "promoter_id": target.promoter_id,
                    "customer_id": target.customer_id if to_customer else None,
                    "source_type": target.source_type,
                    "source_id": target.source_id,
                    "purchase_id": target.purchase_id,
                    "unit": decision.unit,
                    "amount_minor": decision.amount,
                    "hold_until": decision.hold_until,
                    "created_at": now,
                }
            )
        )
    if not rows:
        return []
    rewards = [view(Reward, row) for row in rows]  # transient: for the answer and the events
    # Each reward is its own ``earned`` ledger entry (goodwill.rewards.ledger).
    if with_outbox:
        write_with_outbox(session, (_INSERT, rows))
    else:
        await (await raw(session)).insert((_INSERT, rows))
    for reward in rewards:
        await emit_reward(session, reward, "reward.created", now, source, as_written=True)
        if reward.status == "approved":
            await emit_reward(session, reward, "reward.approved", now, source)
    return rewards


async def fire(
    session: AsyncSession, target: Target, occurrence: Occurrence, now: datetime, source: str
) -> Firing:
    decisions, reward_ids = await decide_for(session, target, occurrence)
    rewards = await write(session, target, decisions, reward_ids, now=now, source=source)
    return Firing(decisions, rewards, reward_ids)


def explain(
    decisions: Sequence[Decision], reward_ids: dict[uuid.UUID, uuid.UUID]
) -> list[dict[str, Any]]:
    """The stored explanation: every rule, whether it fired, and if not, why (amounts as
    exact text; :func:`goodwill.rewards.schemas.render_rules` shows them as numbers)."""
    explained: list[dict[str, Any]] = []
    for d in decisions:
        item: dict[str, Any] = {
            "rule_id": str(d.rule_id),
            "rule_name": d.rule_name,
            "fired": d.fired,
            "code": d.code,
            "reason": d.reason,
        }
        if d.fired:
            assert d.unit is not None
            item.update(
                reward_id=str(reward_ids[d.rule_id]),
                unit=d.unit,
                amount=str(amount_of(d.amount, d.unit)),
                capped=d.capped,
            )
        explained.append(item)
    return explained
