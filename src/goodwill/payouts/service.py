"""Payouts: pay an account's approved rewards in one currency, net of its clawbacks.

The account's row (promoter or customer) is locked first, then its approved rewards in id
order, so two payouts of one account never pay the same reward or net the same clawback.
The rewards become ``paid``; the ledger moves them from ``approved`` to ``paid``, and the
clawback it repays from ``paid`` back to ``clawback``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers.service import CustomerRepository
from goodwill.db.repository import Repository
from goodwill.errors import ValidationFailed
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.money import from_minor, to_minor
from goodwill.payouts.models import Payout
from goodwill.payouts.schemas import PayoutCreate, PayoutOut, Skipped
from goodwill.programs import service as programs
from goodwill.promoters import service as promoters
from goodwill.rewards import ledger
from goodwill.rewards.models import LedgerEntry, Reward
from goodwill.rewards.service import RewardRepository, attributes, emit_reward, net
from goodwill.rules.engine import POINTS

PAYOUTS: Table = Payout.__table__  # type: ignore[assignment]


class PayoutRepository(Repository[Payout]):
    model = Payout
    noun = "payout"


async def create(
    session: AsyncSession, workspace_id: uuid.UUID, data: PayoutCreate, now: datetime, source: str
) -> tuple[list[Payout], list[Skipped]]:
    data.check()
    accounts: list[tuple[str, uuid.UUID, uuid.UUID | None]] = []  # type, id, program
    currency: str | None = None
    if data.promoter_id is not None:
        promoter = await promoters.get(
            session, workspace_id, data.promoter_id, param="promoter_id", for_update=True
        )
        accounts.append(("promoter", promoter.id, promoter.program_id))
        currency = (await programs.get(session, workspace_id, promoter.program_id)).currency
    elif data.program_id is not None:
        program = await programs.get(
            session, workspace_id, data.program_id, kind="referral", param="program_id"
        )
        currency = program.currency
        for p in await promoters.all_in_program(session, workspace_id, program.id, for_update=True):
            accounts.append(("promoter", p.id, program.id))
    else:
        assert data.customer_id is not None
        repo = CustomerRepository(session, workspace_id)
        customer = await repo.get(data.customer_id, param="customer_id", for_update=True)
        accounts.append(("customer", customer.id, None))
    if data.minimum is not None and currency is None:
        raise ValidationFailed.single(
            "minimum", "a minimum applies to a promoter or program payout (in its currency)"
        )
    minimum = 0 if data.minimum is None else to_minor(data.minimum, currency or "", "minimum")
    paid: list[Payout] = []
    skipped: list[Skipped] = []
    for account_type, account_id, program_id in accounts:
        for unit in await _units(session, workspace_id, account_type, account_id, currency):
            result = await _pay(
                session,
                workspace_id,
                account=(account_type, account_id),
                program_id=program_id,
                unit=unit,
                minimum=minimum,
                now=now,
                source=source,
            )
            if isinstance(result, Payout):
                paid.append(result)
            else:
                skipped.append(result)
    return paid, skipped


async def _units(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_type: str,
    account_id: uuid.UUID,
    currency: str | None,
) -> list[str]:
    """The currencies the account has approved rewards or a clawback in (never points)."""
    if currency is not None:
        return [currency]
    rewards = select(Reward.unit).where(
        Reward.workspace_id == workspace_id,
        Reward.status == "approved",
        *ledger.rewards_of(account_type, account_id),
    )
    claws = select(LedgerEntry.unit).where(
        LedgerEntry.workspace_id == workspace_id,
        LedgerEntry.account_type == account_type,
        LedgerEntry.account_id == account_id,
        LedgerEntry.bucket == "clawback",
    )
    found = {u for (u,) in (await session.execute(rewards.union(claws))).all()}
    return sorted(found - {POINTS})


async def _clawback(
    session: AsyncSession, workspace_id: uuid.UUID, account: tuple[str, uuid.UUID], unit: str
) -> int:
    stmt = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.workspace_id == workspace_id,
        LedgerEntry.account_type == account[0],
        LedgerEntry.account_id == account[1],
        LedgerEntry.unit == unit,
        LedgerEntry.bucket == "clawback",
    )
    return int((await session.execute(stmt)).scalar_one())


async def _pay(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    account: tuple[str, uuid.UUID],
    program_id: uuid.UUID | None,
    unit: str,
    minimum: int,
    now: datetime,
    source: str,
) -> Payout | Skipped:
    stmt = (
        RewardRepository(session, workspace_id)
        .select()
        .where(Reward.status == "approved", Reward.unit == unit, *ledger.rewards_of(*account))
        .order_by(Reward.id)
        .with_for_update()
    )
    rewards = list((await session.scalars(stmt)).all())
    gross = sum(net(r) for r in rewards)
    clawback = await _clawback(session, workspace_id, account, unit)  # 0 or negative
    amount = gross + clawback

    def skip(reason: str) -> Skipped:
        return Skipped(
            account_type=account[0],
            account_id=account[1],
            currency=unit,
            payable=from_minor(max(amount, 0), unit),
            reason=reason,
        )

    if not rewards:
        return skip("no approved rewards")
    if amount <= 0:
        return skip("the clawback outstanding is as large as the approved rewards")
    if amount < minimum:
        return skip(f"below the minimum of {from_minor(minimum, unit)} {unit}")
    payout = Payout(
        id=new_id(),
        workspace_id=workspace_id,
        account_type=account[0],
        promoter_id=account[1] if account[0] == "promoter" else None,
        customer_id=account[1] if account[0] == "customer" else None,
        program_id=program_id,
        currency=unit,
        amount_minor=amount,
        rewards_minor=gross,
        clawback_minor=-clawback,
        reward_count=len(rewards),
        created_at=now,
    )
    values = {c.key: getattr(payout, c.key) for c in PAYOUTS.columns}
    await session.execute(insert(PAYOUTS).values(**values))
    entries: list[dict[str, Any]] = []
    for reward in rewards:
        entries += ledger.move(
            reward, "approved", "paid", net(reward), kind="paid", now=now, payout_id=payout.id
        )
    if clawback:
        for bucket, delta in (("clawback", -clawback), ("paid", clawback)):
            entries.append(
                ledger.account_entry(
                    workspace_id,
                    account,
                    unit,
                    bucket=bucket,
                    amount=delta,
                    kind="settled",
                    now=now,
                    payout_id=payout.id,
                )
            )
    await ledger.write(session, entries)
    for reward in rewards:
        reward.status = "paid"
        reward.paid_at = reward.updated_at = now
        reward.payout_id = payout.id
    await session.flush()
    for reward in rewards:
        await emit_reward(session, reward, "reward.paid", now, source)
    await emit(
        session,
        workspace_id=workspace_id,
        type="payout.created",
        source=source,
        subject=payout.id,
        data=to_builtins(PayoutOut.of(payout)),
        now=now,
        attributes=attributes(program_id, payout.promoter_id) if program_id else {},
    )
    return payout


async def get(session: AsyncSession, workspace_id: uuid.UUID, payout_id: uuid.UUID) -> Payout:
    return await PayoutRepository(session, workspace_id).get(payout_id)


async def rewards_of(
    session: AsyncSession, workspace_id: uuid.UUID, payout_id: uuid.UUID
) -> Sequence[Reward]:
    stmt = (
        RewardRepository(session, workspace_id)
        .select()
        .where(Reward.payout_id == payout_id)
        .order_by(Reward.id)
    )
    return (await session.scalars(stmt)).all()


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Payout], str | None]:
    stmt = PayoutRepository(session, workspace_id).select()
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Payout, name) == value)
    return await fetch_page(session, stmt, Payout.id, limit, cursor)
