"""The points ledger: lots, balances, earning, spending, clawbacks and expiry.

Rules (all balances are sums of ledger rows, see ``goodwill.loyalty.models``):

- A lot earned at ``t`` is *pending* while ``now < pending_until``, *available* from
  ``pending_until`` until ``expires_at`` (exclusive), and *expired* from ``expires_at``.
  Points earned by a purchase count from the purchase time (``occurred_at``, never later than
  when it is recorded); points earned by a custom event from when it is recorded.
- Spending takes the oldest available lots first (first in, first out); expiry therefore
  takes the oldest points too. ``expire_due_points`` writes the ``expire`` rows of lots past
  their ``expires_at``; until it runs, those points already count as expired, never available.
- A refund claws back ``round_half_even(earned × refunded / amount)`` of the points its purchase
  earned (all of them on a full refund), from that purchase's own lot only, pending or not.
  Points of the lot that were already spent or expired are not taken from other lots; if a
  redemption that spent them is reversed later, the reversal returns them to the lot and the
  clawback takes them at once, so a refunded purchase never leaves points to spend.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id
from goodwill.loyalty.cards import lock_card_or_skip
from goodwill.loyalty.facts import PointsChange
from goodwill.loyalty.models import LoyaltyCard, PointsEntry
from goodwill.loyalty.schemas import PointsEntryOut
from goodwill.money import prorate
from goodwill.programs.settings import PointsSettings

KINDS = ("earn", "redeem", "reverse", "expire", "refund")


@dataclass(frozen=True)
class Lot:
    id: uuid.UUID
    remaining: int
    earned_at: datetime
    pending_until: datetime
    expires_at: datetime | None
    purchase_id: uuid.UUID | None

    def state(self, now: datetime) -> str:
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "pending" if now < self.pending_until else "available"


@dataclass(frozen=True)
class Balance:
    pending: int
    available: int
    redeemed: int
    expired: int
    clawed_back: int
    earned: int


async def open_lots(session: AsyncSession, card_id: uuid.UUID) -> list[Lot]:
    """The card's lots with points left, oldest first."""
    lot = aliased(PointsEntry)
    e = PointsEntry
    remaining = func.sum(e.points)
    stmt = (
        select(lot.id, lot.earned_at, lot.pending_until, lot.expires_at, lot.purchase_id, remaining)
        .join(lot, lot.id == e.lot_id)
        .where(e.card_id == card_id)
        .group_by(lot.id, lot.earned_at, lot.pending_until, lot.expires_at, lot.purchase_id)
        .having(remaining > 0)
        .order_by(lot.earned_at, lot.id)
    )
    lots = []
    for row in (await session.execute(stmt)).all():
        assert row[1] is not None
        assert row[2] is not None
        lots.append(
            Lot(
                id=row[0],
                earned_at=row[1],
                pending_until=row[2],
                expires_at=row[3],
                purchase_id=row[4],
                remaining=int(row[5]),
            )
        )
    return lots


async def balance(session: AsyncSession, card_id: uuid.UUID, now: datetime) -> Balance:
    lots = await open_lots(session, card_id)
    sums = dict.fromkeys(KINDS, 0)
    rows = await session.execute(
        select(PointsEntry.kind, func.sum(PointsEntry.points))
        .where(PointsEntry.card_id == card_id)
        .group_by(PointsEntry.kind)
    )
    sums.update({kind: int(total) for kind, total in rows.all()})
    by_state = {"pending": 0, "available": 0, "expired": 0}
    for lot in lots:
        by_state[lot.state(now)] += lot.remaining
    return Balance(
        pending=by_state["pending"],
        available=by_state["available"],
        redeemed=-(sums["redeem"] + sums["reverse"]),
        expired=-sums["expire"] + by_state["expired"],
        clawed_back=-sums["refund"],
        earned=sums["earn"],
    )


async def _write(
    session: AsyncSession,
    card: LoyaltyCard,
    *,
    kind: str,
    points: int,
    lot_id: uuid.UUID | None,
    now: datetime,
    dedupe_key: str | None = None,
    **extra: Any,
) -> dict[str, Any] | None:
    """Append one row and return its values; with ``dedupe_key``, None if the program has
    that key already."""
    entry_id = new_id()
    values: dict[str, Any] = {
        "id": entry_id,
        "workspace_id": card.workspace_id,
        "program_id": card.program_id,
        "card_id": card.id,
        "customer_id": card.customer_id,
        "kind": kind,
        "points": points,
        "lot_id": lot_id or entry_id,
        "dedupe_key": dedupe_key,
        "details": {},
        "created_at": now,
        **extra,
    }
    table = PointsEntry.__table__
    if dedupe_key is None:
        await session.execute(insert(table).values(**values))  # type: ignore[arg-type]
        return values
    dialect_insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    stmt = (
        dialect_insert(table)  # type: ignore[arg-type]
        .values(**values)
        .on_conflict_do_nothing(index_elements=["program_id", "dedupe_key"])
        .returning(table.c.id)
    )
    return values if (await session.execute(stmt)).scalar() is not None else None


async def _emit(
    session: AsyncSession,
    card: LoyaltyCard,
    values: dict[str, Any],
    type: str,
    *,
    now: datetime,
    source: str,
) -> None:
    await emit(
        session,
        workspace_id=card.workspace_id,
        type=type,
        source=source,
        subject=values["id"],
        data=to_builtins(PointsEntryOut.of(values, card.code)),
        now=now,
        attributes={"program_id": str(card.program_id)},
    )


async def earn(
    session: AsyncSession,
    card: LoyaltyCard,
    settings: PointsSettings,
    *,
    points: int,
    earned_at: datetime,
    dedupe_key: str,
    now: datetime,
    source: str,
    purchase_id: uuid.UUID | None = None,
    custom_event_id: uuid.UUID | None = None,
    basis_minor: int | None = None,
    details: dict[str, Any] | None = None,
) -> PointsChange | None:
    """A new lot of ``points`` (once per ``dedupe_key``) and its ``points.earned`` event."""
    expires_at = (
        None if settings.expiry_days is None else earned_at + timedelta(days=settings.expiry_days)
    )
    values = await _write(
        session,
        card,
        kind="earn",
        points=points,
        lot_id=None,
        now=now,
        dedupe_key=dedupe_key,
        earned_at=earned_at,
        pending_until=earned_at + timedelta(days=settings.pending_days),
        expires_at=expires_at,
        purchase_id=purchase_id,
        custom_event_id=custom_event_id,
        basis_minor=basis_minor,
        details=details or {},
    )
    if values is None:
        return None
    await _emit(session, card, values, "points.earned", now=now, source=source)
    return PointsChange(values["id"], card.program_id, points)


async def spend(
    session: AsyncSession,
    card: LoyaltyCard,
    lots: Sequence[Lot],
    points: int,
    *,
    redemption_id: uuid.UUID,
    now: datetime,
) -> None:
    """Take ``points`` from the available ``lots``, oldest first (the caller checked enough)."""
    left = points
    for lot in lots:
        if left == 0:
            break
        if lot.state(now) != "available":
            continue
        take = min(left, lot.remaining)
        await _write(
            session,
            card,
            kind="redeem",
            points=-take,
            lot_id=lot.id,
            now=now,
            redemption_id=redemption_id,
        )
        left -= take
    assert left == 0, "spend() was given fewer available points than it had to take"


async def give_back(
    session: AsyncSession,
    card: LoyaltyCard,
    redemption_id: uuid.UUID,
    *,
    now: datetime,
    source: str,
) -> list[PointsChange]:
    """Reverse a redemption: each lot gets back what it gave; clawbacks then settle."""
    spent = (
        await session.execute(
            select(PointsEntry.lot_id, func.sum(PointsEntry.points))
            .where(PointsEntry.redemption_id == redemption_id, PointsEntry.kind == "redeem")
            .group_by(PointsEntry.lot_id)
            .order_by(PointsEntry.lot_id)
        )
    ).all()
    for lot_id, total in spent:
        await _write(
            session,
            card,
            kind="reverse",
            points=-int(total),
            lot_id=lot_id,
            now=now,
            redemption_id=redemption_id,
            dedupe_key=f"reverse:{redemption_id}:{lot_id}",
        )
    clawed = []
    for lot_id, _ in spent:
        change = await settle_clawback(session, card, lot_id, None, now=now, source=source)
        if change is not None:
            clawed.append(change)
    return clawed


async def settle_clawback(
    session: AsyncSession,
    card: LoyaltyCard,
    lot_id: uuid.UUID,
    refunded_minor: int | None,
    *,
    now: datetime,
    source: str,
) -> PointsChange | None:
    """Bring a purchase lot's clawback up to what its refunds call for (see the module).

    ``refunded_minor`` is a new refund total for the purchase (None: only re-settle).
    """
    rows = (
        await session.execute(
            select(
                PointsEntry.kind,
                PointsEntry.points,
                PointsEntry.basis_minor,
                PointsEntry.purchase_id,
            ).where(PointsEntry.lot_id == lot_id)
        )
    ).all()
    earned = next((r for r in rows if r.kind == "earn"), None)
    if earned is None or earned.basis_minor is None:
        return None  # not a purchase lot
    bases = [r.basis_minor for r in rows if r.kind == "refund" and r.basis_minor is not None]
    known = max(bases, default=0)
    basis = max(known, refunded_minor or 0)
    if basis == 0:
        return None
    amount = int(earned.basis_minor)
    target = int(earned.points) if basis >= amount else prorate(int(earned.points), basis, amount)
    clawed = -sum(int(r.points) for r in rows if r.kind == "refund")
    remaining = sum(int(r.points) for r in rows)
    take = max(0, min(target - clawed, remaining))
    if take == 0 and basis <= known:
        return None
    values = await _write(
        session,
        card,
        kind="refund",
        points=-take,
        lot_id=lot_id,
        now=now,
        basis_minor=basis,
        purchase_id=earned.purchase_id,
    )
    assert values is not None
    if take == 0:
        return None  # the refund is on record; nothing was left in the lot to take
    await _emit(session, card, values, "points.clawed_back", now=now, source=source)
    return PointsChange(values["id"], card.program_id, -take)


async def purchase_lots(
    session: AsyncSession, workspace_id: uuid.UUID, purchase_id: uuid.UUID
) -> Sequence[Any]:
    """The lots a purchase earned, in every program: (id, card_id)."""
    e = PointsEntry
    stmt = select(e.id, e.card_id).where(
        e.workspace_id == workspace_id, e.purchase_id == purchase_id, e.kind == "earn"
    )
    return (await session.execute(stmt)).all()


async def expire_due_points(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int = 500,
    source: str = "urn:goodwill:points-expiry",
) -> int:
    """Write the ``expire`` rows of lots past ``expires_at`` (all workspaces); how many lots.

    Cards another transaction holds are skipped and picked up by the next run.
    """
    lot = aliased(PointsEntry)
    e = PointsEntry
    left = select(func.coalesce(func.sum(e.points), 0)).where(e.lot_id == lot.id).scalar_subquery()
    due = (
        await session.execute(
            select(lot.card_id)
            .where(lot.kind == "earn", lot.expires_at <= now, left > 0)
            .group_by(lot.card_id)
            .order_by(lot.card_id)
            .limit(limit)
        )
    ).scalars()
    expired = 0
    for card_id in list(due):
        if not await lock_card_or_skip(session, card_id):
            continue
        card = await session.get(LoyaltyCard, card_id)
        assert card is not None
        for lot_row in await open_lots(session, card_id):
            if lot_row.state(now) != "expired":
                continue
            values = await _write(
                session,
                card,
                kind="expire",
                points=-lot_row.remaining,
                lot_id=lot_row.id,
                now=now,
                expires_at=lot_row.expires_at,
            )
            assert values is not None
            await _emit(session, card, values, "points.expired", now=now, source=source)
            expired += 1
    return expired
