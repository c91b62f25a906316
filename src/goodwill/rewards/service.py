"""Rewards after they are granted: read, approve, void, undo for refunds, and balances.

Every status change writes its ledger entries and its event in the caller's transaction. A
reward row is locked (``FOR UPDATE`` on PostgreSQL) before it changes; several rows are always
locked in id order.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import view
from goodwill.db.repository import Repository, among
from goodwill.errors import Conflict
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.http.pagination import fetch_page
from goodwill.money import prorate
from goodwill.promoters.schemas import Balance, RewardTotal
from goodwill.rewards import ledger
from goodwill.rewards.models import Reward
from goodwill.rewards.schemas import RewardOut, amount_of
from goodwill.rules.engine import POINTS

HOLD_PERIOD_SOURCE = "urn:goodwill:hold-period"
UNPAID = ("pending", "approved")


class RewardRepository(Repository[Reward]):
    model = Reward
    noun = "reward"


def attributes(program_id: uuid.UUID, promoter_id: uuid.UUID | None) -> dict[str, str]:
    """The CloudEvents context attributes of a referral event (a null one is left out)."""
    found = {"program_id": program_id, "promoter_id": promoter_id}
    return {key: str(value) for key, value in found.items() if value is not None}


async def emit_reward(
    session: AsyncSession,
    reward: Reward,
    type: str,
    now: datetime,
    source: str,
    *,
    as_written: bool = False,
) -> None:
    """``as_written``: ``reward`` is a new row, written in this transaction: its event is
    rendered from that row when read (:func:`created_events_data`)."""
    await emit(
        session,
        workspace_id=reward.workspace_id,
        type=type,
        source=source,
        subject=reward.id,
        data=None if as_written else to_builtins(RewardOut.of(reward)),
        now=now,
        attributes=None if as_written else attributes(reward.program_id, reward.promoter_id),
    )


# What a reward never changes once written: its ``reward.created`` event is made of these.
# Status, reversals, approval, payment, voiding and ``updated_at`` move; nothing else does.
WRITTEN = (
    "id",
    "workspace_id",
    "program_id",
    "rule_id",
    "referral_id",
    "promoter_id",
    "customer_id",
    "source_type",
    "source_id",
    "purchase_id",
    "unit",
    "amount_minor",
    "hold_until",
    "created_at",
)
_WRITTEN_COLUMNS = [getattr(Reward, name) for name in WRITTEN]


def created_row(written: Mapping[Any, Any]) -> dict[str, Any]:
    """The whole row of a new reward from its :data:`WRITTEN` values: approved at once if its
    hold has ended when it is created, else pending. ``goodwill.rewards.grant.write`` inserts
    it, and :func:`created_events_data` renders its ``reward.created`` from it again."""
    approved = written["hold_until"] <= written["created_at"]
    by_purchase = written["source_type"] in ("purchase", None)
    if by_purchase and written["source_id"] not in (None, written["purchase_id"]):
        raise ValueError("a purchase's reward names its purchase as its source")
    return {name: written[name] for name in WRITTEN} | {
        "source_type": None if by_purchase else written["source_type"],
        "source_id": None if by_purchase else written["source_id"],
        "reversed_minor": 0,
        "status": "approved" if approved else "pending",
        "void_reason": None,
        "approved_at": written["created_at"] if approved else None,
        "paid_at": None,
        "voided_at": None,
        "payout_id": None,
        "updated_at": None,
    }


async def created_events_data(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]:
    """The ``reward.created`` data and attributes of the rewards ``ids``, with their
    workspaces, read from what their rows never change (``goodwill.events.refs``)."""
    rows = await session.execute(select(*_WRITTEN_COLUMNS).where(among(session, Reward.id, ids)))
    return {
        row.id: (
            row.workspace_id,
            to_builtins(RewardOut.of(view(Reward, created_row(row._mapping)))),
            attributes(row.program_id, row.promoter_id),
        )
        for row in rows
    }


async def get(session: AsyncSession, workspace_id: uuid.UUID, reward_id: uuid.UUID) -> Reward:
    return await RewardRepository(session, workspace_id).get(reward_id)


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Reward], str | None]:
    stmt = RewardRepository(session, workspace_id).select()
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Reward, name) == value)
    return await fetch_page(session, stmt, Reward.id, limit, cursor)


async def all_matching(
    session: AsyncSession, workspace_id: uuid.UUID, filters: dict[str, Any]
) -> Sequence[Reward]:
    """Every reward matching ``filters``, oldest first (for exports)."""
    stmt = RewardRepository(session, workspace_id).select().order_by(Reward.id)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Reward, name) == value)
    return (await session.scalars(stmt)).all()


async def for_purchases(
    session: AsyncSession, workspace_id: uuid.UUID, purchase_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Reward]]:
    found: dict[uuid.UUID, list[Reward]] = {pid: [] for pid in purchase_ids}
    if not purchase_ids:
        return found
    stmt = (
        RewardRepository(session, workspace_id)
        .select()
        .where(Reward.purchase_id.in_(purchase_ids))
        .order_by(Reward.id)
    )
    for reward in (await session.scalars(stmt)).all():
        assert reward.purchase_id is not None
        found[reward.purchase_id].append(reward)
    return found


async def for_sources(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_type: str,
    source_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, list[Reward]]:
    """The rewards each source (a lead, a click, an event) granted, in one query, from the
    index of the rewards of such sources (a purchase's: :func:`for_purchases`)."""
    if source_type == "purchase":
        raise ValueError("a purchase's rewards are found by for_purchases")
    found: dict[uuid.UUID, list[Reward]] = {sid: [] for sid in source_ids}
    if not source_ids:
        return found
    stmt = (
        RewardRepository(session, workspace_id)
        .select()
        .where(
            Reward.source_type == source_type,
            Reward.source_type != "purchase",  # the index's condition, which SQLite must see
            Reward.source_id.in_(source_ids),
        )
        .order_by(Reward.id)
    )
    for reward in (await session.scalars(stmt)).all():
        found[reward.source[1]].append(reward)
    return found


def net(reward: Reward) -> int:
    return reward.amount_minor - reward.reversed_minor


async def _approve_locked(
    session: AsyncSession, reward: Reward, now: datetime, source: str
) -> bool:
    if reward.status != "pending":
        return False
    await ledger.write(
        session, ledger.move(reward, "pending", "approved", net(reward), kind="approved", now=now)
    )
    reward.status = "approved"
    reward.approved_at = now
    reward.updated_at = now
    await session.flush()
    await emit_reward(session, reward, "reward.approved", now, source)
    return True


async def approve(
    session: AsyncSession, workspace_id: uuid.UUID, reward_id: uuid.UUID, now: datetime, source: str
) -> Reward:
    """Approve a pending reward before its hold ends. Approving twice changes nothing."""
    reward = await RewardRepository(session, workspace_id).get(reward_id, for_update=True)
    if reward.status == "voided":
        raise Conflict(
            f"Reward {reward.id} is voided ({reward.void_reason}); it cannot be approved"
        )
    await _approve_locked(session, reward, now, source)
    return reward


async def void_locked(
    session: AsyncSession,
    reward: Reward,
    reason: str,
    now: datetime,
    source: str,
    *,
    refund_id: uuid.UUID | None = None,
) -> None:
    assert reward.status in UNPAID
    amount = net(reward)
    if amount:
        entry = ledger.entry(
            reward, reward.status, -amount, kind="voided", now=now, refund_id=refund_id
        )
        await ledger.write(session, [entry])
    reward.status = "voided"
    reward.void_reason = reason
    reward.voided_at = now
    reward.updated_at = now
    await session.flush()
    await emit_reward(session, reward, "reward.voided", now, source)


async def void(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    reward_id: uuid.UUID,
    *,
    reason: str,
    now: datetime,
    source: str,
) -> Reward:
    """Void an unpaid reward. Voiding a voided reward changes nothing; a paid one is a 409."""
    reward = await RewardRepository(session, workspace_id).get(reward_id, for_update=True)
    if reward.status == "paid":
        raise Conflict(f"Reward {reward.id} is paid; refund its purchase to claw it back instead")
    if reward.status != "voided":
        await void_locked(session, reward, reason, now, source)
    return reward


async def approve_due(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int = 500,
    workspace_id: uuid.UUID | None = None,
) -> int:
    """Approve pending rewards whose hold period has ended, in every workspace (or one).
    Returns how many; safe to run from several processes at once (rows being changed are
    skipped)."""
    stmt = (
        select(Reward)
        .where(Reward.status == "pending", Reward.hold_until <= now)
        .order_by(Reward.hold_until)  # the index of pending rewards, in its order
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if workspace_id is not None:
        stmt = stmt.where(Reward.workspace_id == workspace_id)
    approved = 0
    for reward in (await session.scalars(stmt)).all():
        approved += await _approve_locked(session, reward, now, HOLD_PERIOD_SOURCE)
    return approved


async def undo_for_refund(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    purchase_id: uuid.UUID,
    *,
    refunded_minor: int,
    purchase_minor: int,
    refund_id: uuid.UUID,
    now: datetime,
    source: str,
) -> list[Reward]:
    """Undo the purchase's rewards for its refunds so far (``refunded_minor`` in all).

    Refunded in full: unpaid rewards are voided, paid ones clawed back to 0. Partly: each
    reward is reversed to ``prorate(amount, refunded, purchase)``, half-even, counted from
    the total so repeated partial refunds never drift; a paid reward's share is clawed back.
    """
    stmt = (
        RewardRepository(session, workspace_id)
        .select()
        .where(Reward.purchase_id == purchase_id, Reward.status != "voided")
        .order_by(Reward.id)
        .with_for_update()
    )
    rewards = list((await session.scalars(stmt)).all())
    full = refunded_minor >= purchase_minor
    entries: list[dict[str, Any]] = []
    voided: list[Reward] = []
    for reward in rewards:
        if full and reward.status in UNPAID:
            voided.append(reward)
            continue
        target = (
            reward.amount_minor
            if full
            else prorate(reward.amount_minor, refunded_minor, purchase_minor)
        )
        delta = target - reward.reversed_minor
        if delta <= 0:
            continue
        if reward.status == "paid":
            entries.append(
                ledger.entry(
                    reward, "clawback", -delta, kind="clawback", now=now, refund_id=refund_id
                )
            )
        else:
            entries.append(
                ledger.entry(
                    reward, reward.status, -delta, kind="reversed", now=now, refund_id=refund_id
                )
            )
        reward.reversed_minor += delta
        reward.updated_at = now
    await ledger.write(session, entries)
    await session.flush()
    for reward in voided:
        await void_locked(
            session, reward, "the purchase was refunded in full", now, source, refund_id=refund_id
        )
    return rewards


async def balances(
    session: AsyncSession, workspace_id: uuid.UUID, account_type: str, account_id: uuid.UUID
) -> list[Balance]:
    """Per unit, each bucket is the sum of the account's ledger entries (its rewards'
    ``earned`` entries with the rest: :func:`goodwill.rewards.ledger.entries`)."""
    found = ledger.entries(workspace_id, (account_type, account_id)).subquery()
    stmt = select(found.c.unit, found.c.bucket, func.sum(found.c.amount_minor)).group_by(
        found.c.unit, found.c.bucket
    )
    sums: dict[str, dict[str, int]] = {}
    for unit, bucket, total in (await session.execute(stmt)).all():
        sums.setdefault(unit, dict.fromkeys(ledger.BUCKETS, 0))[bucket] = int(total)
    return [balance_of(unit, sums[unit]) for unit in sorted(sums, key=lambda u: (u == POINTS, u))]


def balance_of(unit: str, buckets: dict[str, int]) -> Balance:
    payable = max(0, buckets["approved"] + buckets["clawback"])
    return Balance(
        unit=unit,
        pending=amount_of(buckets["pending"], unit),
        approved=amount_of(buckets["approved"], unit),
        paid=amount_of(buckets["paid"], unit),
        clawback_outstanding=amount_of(buckets["clawback"], unit),
        payable=amount_of(payable, unit),
    )


async def totals_for_promoter(
    session: AsyncSession, workspace_id: uuid.UUID, promoter_id: uuid.UUID
) -> list[RewardTotal]:
    """The promoter's own rewards by status and unit: how many, and their net amount."""
    stmt = (
        select(
            Reward.status,
            Reward.unit,
            func.count(),
            func.sum(Reward.amount_minor - Reward.reversed_minor),
        )
        .where(
            Reward.workspace_id == workspace_id,
            Reward.promoter_id == promoter_id,
            Reward.customer_id.is_(None),  # the promoter's own (Reward.beneficiary)
        )
        .group_by(Reward.status, Reward.unit)
        .order_by(Reward.status, Reward.unit)
    )
    return [
        RewardTotal(status=status, unit=unit, count=int(count), amount=amount_of(int(total), unit))
        for status, unit, count, total in (await session.execute(stmt)).all()
    ]
