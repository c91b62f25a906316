"""Redemptions: spending a card's stamps or points, oldest first, and reversing that.

A redemption locks its card, so two redemptions that together exceed the balance run one after
the other: the second sees the first's spending and is refused. ``external_id`` is unique per
workspace: the same request again answers the first redemption; another request with the same
``external_id`` is a 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from msgspec import UNSET
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import format_time
from goodwill.customers import service as customers
from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict, ValidationFailed
from goodwill.events.service import emit
from goodwill.http.encoding import to_builtins
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.loyalty import points
from goodwill.loyalty.cards import ensure_card, lock_cards
from goodwill.loyalty.events import emit_qualifying_purchase
from goodwill.loyalty.models import LoyaltyCard, QualifyingPurchase, Redemption
from goodwill.loyalty.schemas import RedemptionCreate, RedemptionOut
from goodwill.loyalty.stamps import AVAILABLE, transaction_refs
from goodwill.programs import service as programs
from goodwill.programs.models import Program


class RedemptionRepository(Repository[Redemption]):
    model = Redemption
    noun = "redemption"

    async def by_external_id(self, external_id: str) -> Redemption | None:
        stmt = self.select().where(Redemption.external_id == external_id)
        return (await self.session.scalars(stmt.execution_options(populate_existing=True))).first()


class InsufficientBalance(Conflict):
    code = "insufficient_balance"


def _quantity(program: Program, data: RedemptionCreate) -> int:
    if program.kind == "stamps":
        if data.points is not None:
            raise ValidationFailed.single("points", "this is a stamps program: give stamps")
        required: int = program.settings["stamps_required"]
        return data.stamps if data.stamps is not None else required
    if data.stamps is not None:
        raise ValidationFailed.single("stamps", "this is a points program: give points")
    if data.points is None:
        raise ValidationFailed.single("points", "is required for a points program", "required")
    return data.points


def _same_request(r: Redemption, program_id: uuid.UUID, customer_id: uuid.UUID, qty: int) -> bool:
    return r.program_id == program_id and r.customer_id == customer_id and r.quantity == qty


def _replay(existing: Redemption, program: Program, customer_id: uuid.UUID, qty: int) -> Redemption:
    if not _same_request(existing, program.id, customer_id, qty):
        raise Conflict(
            f"external_id {existing.external_id!r} was already used for redemption "
            f"{existing.id} with other details",
            param="external_id",
        )
    return existing


async def redeem(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: RedemptionCreate,
    now: datetime,
    source: str,
) -> tuple[Redemption, bool]:
    """Spend stamps or points; (redemption, created). Not enough balance is a 409 saying it."""
    program = await programs.get(session, workspace_id, data.program_id, param="program_id")
    if program.kind not in ("stamps", "points"):
        raise ValidationFailed.single(
            "program_id", f"program {program.id} is a {program.kind} program, not stamps or points"
        )
    qty = _quantity(program, data)
    customer = await customers.resolve(
        session, workspace_id, id=data.customer.id, source_id=data.customer.source_id
    )
    repo = RedemptionRepository(session, workspace_id)
    existing = await repo.by_external_id(data.external_id)
    if existing is not None:
        return _replay(existing, program, customer.id, qty), False
    if program.status == "archived":
        raise Conflict(f"Program {program.id} is archived", param="program_id")

    card = await ensure_card(session, workspace_id, program.id, customer.id, now)
    await lock_cards(session, [card.id])
    redemption_id = new_id()
    if program.kind == "stamps":
        candidates = await _available_stamps(session, card.id)
        chosen = candidates[:qty]
        values_reward = dict(program.settings["reward"])
        shortfall = (
            None
            if len(candidates) >= qty
            else f"Not enough stamps: the card has {len(candidates)} available, {qty} requested"
        )
        lots: list[points.Lot] = []
    else:
        chosen, values_reward = [], None
        lots = await points.open_lots(session, card.id)
        balance = await points.balance(session, card.id, now)
        shortfall = (
            None
            if balance.available >= qty
            else f"Not enough points: the card has {balance.available} available "
            f"({balance.pending} pending), {qty} requested"
        )

    inserted = await insert_or_nothing(
        session,
        Redemption.__table__,  # type: ignore[arg-type]
        {
            "id": redemption_id,
            "workspace_id": workspace_id,
            "program_id": program.id,
            "card_id": card.id,
            "customer_id": customer.id,
            "external_id": data.external_id,
            "kind": program.kind,
            "quantity": qty,
            "status": "completed",
            "qualifying_purchase_ids": [str(q.id) for q in chosen],
            "reward": values_reward,
            "metadata": {} if data.metadata is UNSET else data.metadata,
            "created_at": now,
            "reversed_at": None,
        },
        ["workspace_id", "external_id"],
    )
    if not inserted:  # a concurrent request with this external_id won
        winner = await repo.by_external_id(data.external_id)
        assert winner is not None
        return _replay(winner, program, customer.id, qty), False
    if shortfall is not None:
        raise InsufficientBalance(
            shortfall, param="stamps" if program.kind == "stamps" else "points"
        )

    if program.kind == "stamps":
        await _mark_redeemed(session, workspace_id, chosen, redemption_id, now=now, source=source)
    else:
        await points.spend(session, card, lots, qty, redemption_id=redemption_id, now=now)
    redemption = await repo.get(redemption_id)
    await _emit(session, redemption, "redemption.created", now, source)
    return redemption, True


async def _available_stamps(
    session: AsyncSession, card_id: uuid.UUID
) -> Sequence[QualifyingPurchase]:
    qp = QualifyingPurchase
    stmt = (
        select(qp)
        .where(qp.card_id == card_id, qp.status.in_(AVAILABLE))
        .order_by(qp.created_at, qp.id)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).all()


async def _mark_redeemed(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    chosen: Sequence[QualifyingPurchase],
    redemption_id: uuid.UUID,
    *,
    now: datetime,
    source: str,
) -> None:
    qp = QualifyingPurchase
    result = await session.execute(
        update(qp)
        .where(qp.id.in_([q.id for q in chosen]), qp.status.in_(AVAILABLE))
        .values(status="redeemed", redeemed_at=now, redemption_id=redemption_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    assert result.rowcount == len(chosen), "stamps changed under the card lock"  # type: ignore[attr-defined]
    for q in chosen:
        await emit_qualifying_purchase(
            session,
            "redeemed",
            workspace_id=workspace_id,
            qualifying_purchase_id=q.id,
            program_id=q.program_id,
            purchase_id=q.purchase_id,
            transaction_ref=q.transaction_ref,
            now=now,
            source=source,
        )


async def reverse(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    redemption_id: uuid.UUID,
    now: datetime,
    source: str,
) -> Redemption:
    """Give the stamps or points back. Stamps become ``unredeemed`` (available again), except
    those whose purchase was refunded meanwhile (they stay voided). A second reversal is a 409."""
    repo = RedemptionRepository(session, workspace_id)
    found = await repo.get(redemption_id)
    await lock_cards(session, [found.card_id])
    redemption = (
        await session.scalars(
            repo.select()
            .where(Redemption.id == redemption_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if redemption.status == "reversed":
        assert redemption.reversed_at is not None
        raise Conflict(
            f"Redemption {redemption.id} was already reversed at "
            f"{format_time(redemption.reversed_at)}",
            code="already_reversed",
        )
    if redemption.kind == "stamps":
        await _unredeem(session, workspace_id, redemption.id, now, source)
    else:
        card = await session.get(LoyaltyCard, redemption.card_id)
        assert card is not None
        await points.give_back(session, card, redemption.id, now=now, source=source)
    redemption.status = "reversed"
    redemption.reversed_at = now
    await session.flush()
    await _emit(session, redemption, "redemption.reversed", now, source)
    return redemption


async def _unredeem(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    redemption_id: uuid.UUID,
    now: datetime,
    source: str,
) -> None:
    qp = QualifyingPurchase
    result = await session.execute(
        update(qp)
        .where(qp.redemption_id == redemption_id, qp.status == "redeemed")
        .values(status="unredeemed", unredeemed_at=now, redemption_id=None, updated_at=now)
        .returning(qp.id, qp.program_id, qp.purchase_id)
        .execution_options(synchronize_session=False)
    )
    rows = sorted(result.all(), key=lambda r: r.id)
    refs = await transaction_refs(session, {row.purchase_id for row in rows})
    for row in rows:
        await emit_qualifying_purchase(
            session,
            "unredeemed",
            workspace_id=workspace_id,
            qualifying_purchase_id=row.id,
            program_id=row.program_id,
            purchase_id=row.purchase_id,
            transaction_ref=refs[row.purchase_id],
            now=now,
            source=source,
        )


async def _emit(
    session: AsyncSession, redemption: Redemption, type: str, now: datetime, source: str
) -> None:
    await emit(
        session,
        workspace_id=redemption.workspace_id,
        type=type,
        source=source,
        subject=redemption.id,
        data=to_builtins(RedemptionOut.of(redemption)),
        now=now,
        attributes={"program_id": str(redemption.program_id)},
    )


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, redemption_id: uuid.UUID
) -> Redemption:
    return await RedemptionRepository(session, workspace_id).get(redemption_id)


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    program_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Redemption], str | None]:
    stmt = RedemptionRepository(session, workspace_id).select()
    if program_id is not None:
        stmt = stmt.where(Redemption.program_id == program_id)
    if customer_id is not None:
        stmt = stmt.where(Redemption.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(Redemption.status == status)
    return await fetch_page(session, stmt, Redemption.id, limit, cursor)
