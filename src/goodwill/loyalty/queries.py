"""Reads for the API: a card with its balances, and the stamp and points ledgers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import format_time
from goodwill.customers import service as customers
from goodwill.db.repository import Repository
from goodwill.errors import NotFound, ValidationFailed
from goodwill.http.pagination import fetch_page
from goodwill.loyalty import points, stamps
from goodwill.loyalty.cards import CardRepository
from goodwill.loyalty.models import LoyaltyCard, PointsEntry, QualifyingPurchase
from goodwill.loyalty.schemas import CardOut, PointsCard, StampsCard
from goodwill.programs import service as programs
from goodwill.programs.models import Program


class QualifyingPurchaseRepository(Repository[QualifyingPurchase]):
    model = QualifyingPurchase
    noun = "qualifying purchase"


class PointsEntryRepository(Repository[PointsEntry]):
    model = PointsEntry
    noun = "points entry"


async def loyalty_program(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID
) -> Program:
    program = await programs.get(session, workspace_id, program_id, param="program_id")
    if program.kind not in ("stamps", "points"):
        raise ValidationFailed.single(
            "program_id", f"program {program.id} is a {program.kind} program: it has no cards"
        )
    return program


async def find_card(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[Program, LoyaltyCard | None]:
    """The program and the customer's card in it, if made yet (404 for an unknown customer)."""
    program = await loyalty_program(session, workspace_id, program_id)
    await customers.get(session, workspace_id, customer_id)
    card = await CardRepository(session, workspace_id).for_customer(program_id, customer_id)
    return program, card


async def card_out(
    session: AsyncSession, program: Program, card: LoyaltyCard, now: datetime
) -> CardOut:
    stamps_card = points_card = None
    if program.kind == "stamps":
        counts = await stamps.stamp_counts(session, card.id)
        available = counts["created"] + counts["unredeemed"]
        required = int(program.settings["stamps_required"])
        stamps_card = StampsCard(
            required=required,
            collected=sum(counts.values()),
            available=available,
            redeemed=counts["redeemed"],
            voided=counts["voided"],
            rewards_available=available // required,
            reward=dict(program.settings["reward"]),
        )
    else:
        b = await points.balance(session, card.id, now)
        points_card = PointsCard(
            pending=b.pending,
            available=b.available,
            redeemed=b.redeemed,
            expired=b.expired,
            clawed_back=b.clawed_back,
            earned=b.earned,
        )
    return CardOut(
        id=card.id,
        code=card.code,
        program_id=card.program_id,
        customer_id=card.customer_id,
        kind=program.kind,
        stamps=stamps_card,
        points=points_card,
        created_at=format_time(card.created_at),
    )


async def card_by_code(session: AsyncSession, workspace_id: uuid.UUID, code: str) -> LoyaltyCard:
    # A code no card can have is not looked up (PostgreSQL refuses a NUL in a text parameter).
    possible = "\x00" not in code
    card = await CardRepository(session, workspace_id).by_code(code) if possible else None
    if card is None:
        raise NotFound(f"No loyalty card {code!r}", param="code")
    return card


async def list_stamps(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    program_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    purchase_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[QualifyingPurchase], str | None]:
    qp = QualifyingPurchase
    stmt = QualifyingPurchaseRepository(session, workspace_id).select()
    if program_id is not None:
        stmt = stmt.where(qp.program_id == program_id)
    if customer_id is not None:  # a stamp's customer is its card's
        stmt = stmt.where(qp.card_id.in_(stamps.cards_of(workspace_id, customer_id)))
    if purchase_id is not None:
        stmt = stmt.where(*stamps.of_purchase(workspace_id, purchase_id))
    if status is not None:
        stmt = stmt.where(qp.status == status)
    return await fetch_page(session, stmt, qp.id, limit, cursor)


async def list_points(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    program_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[tuple[PointsEntry, str]], str | None]:
    """Entries with their card's code, newest first."""
    e = PointsEntry
    stmt = PointsEntryRepository(session, workspace_id).select()
    if program_id is not None:
        stmt = stmt.where(e.program_id == program_id)
    if customer_id is not None:
        stmt = stmt.where(e.customer_id == customer_id)
    if kind is not None:
        stmt = stmt.where(e.kind == kind)
    rows, next_cursor = await fetch_page(session, stmt, e.id, limit, cursor)
    card_ids = {row.card_id for row in rows}
    found = await session.execute(
        select(LoyaltyCard.id, LoyaltyCard.code).where(LoyaltyCard.id.in_(card_ids))
    )
    codes: dict[uuid.UUID, str] = dict(found.all())
    return [(row, codes[row.card_id]) for row in rows], next_cursor
