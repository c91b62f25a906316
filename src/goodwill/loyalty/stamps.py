"""Stamps: qualifying purchases created by purchases, voided by refunds.

A purchase's stamps are rows ``(program, purchase, stamp_index)`` with a unique constraint, so
recording the same purchase again adds nothing. Their states and events follow seed 001.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import insert_into, raw
from goodwill.events.service import write_with_outbox
from goodwill.ids import new_id
from goodwill.loyalty.events import emit_qualifying_purchase
from goodwill.loyalty.facts import PurchaseFacts, StampChange
from goodwill.loyalty.models import QualifyingPurchase
from goodwill.purchases.models import Purchase

AVAILABLE = ("created", "unredeemed")
STAMPS: Table = QualifyingPurchase.__table__  # type: ignore[assignment]
_INSERT = insert_into(STAMPS, on_conflict=("purchase_id", "program_id", "stamp_index"))
_INSERT_NEW = insert_into(STAMPS)  # a new purchase's stamps: a conflict is an error
STATUSES = ("created", "redeemed", "voided", "unredeemed")


async def add_stamps(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    program_id: uuid.UUID,
    card_id: uuid.UUID,
    purchase: PurchaseFacts,
    count: int,
    now: datetime,
    source: str,
    new_purchase: bool = False,
) -> list[StampChange]:
    """Give ``count`` stamps for ``purchase``; stamps it already gave are not given again.

    ``new_purchase``: recorded in this transaction, so it has no stamps yet; they are written
    with the transaction's events (``goodwill.events.service.write_with_outbox``), and one
    that exists after all fails the transaction instead of being skipped."""
    if count <= 0:
        return []
    db = await raw(session)
    inserted = []
    new_rows = []
    for index in range(count):
        stamp_id = new_id()
        row = {
            "id": stamp_id,
            "workspace_id": workspace_id,
            "program_id": program_id,
            "card_id": card_id,
            "purchase_id": purchase.purchase_id,
            "stamp_index": index,
            "status": "created",
            "redemption_id": None,
            "created_at": now,
            "redeemed_at": None,
            "unredeemed_at": None,
            "voided_at": None,
            "updated_at": None,
        }
        if new_purchase:
            new_rows.append(row)
            inserted.append(stamp_id)
        elif await db.one(_INSERT, **row) is not None:
            inserted.append(stamp_id)
    if new_rows:
        write_with_outbox(session, (_INSERT_NEW, new_rows))
    changes = []
    for stamp_id in inserted:
        await emit_qualifying_purchase(
            session,
            "created",
            workspace_id=workspace_id,
            qualifying_purchase_id=stamp_id,
            program_id=program_id,
            purchase_id=purchase.purchase_id,
            transaction_ref=purchase.external_id,
            now=now,
            source=source,
            as_written=True,
        )
        changes.append(StampChange(stamp_id, program_id))
    return changes


async def stamps_of_purchase(
    session: AsyncSession, workspace_id: uuid.UUID, purchase_id: uuid.UUID
) -> Sequence[Any]:
    """Every stamp a purchase gave, in every program: (id, program_id, card_id, status, index)."""
    qp = QualifyingPurchase
    stmt = select(qp.id, qp.program_id, qp.card_id, qp.status, qp.stamp_index).where(
        qp.workspace_id == workspace_id, qp.purchase_id == purchase_id
    )
    return (await session.execute(stmt)).all()


async def transaction_refs(
    session: AsyncSession, purchase_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The ``transaction_ref`` of the stamps of each purchase: its ``external_id``."""
    if not purchase_ids:
        return {}
    found = await session.execute(
        select(Purchase.id, Purchase.external_id).where(Purchase.id.in_(purchase_ids))
    )
    return {row.id: row.external_id for row in found}


def stamps_to_void(stamps: Sequence[Any], keep: int) -> list[Any]:
    """Which of one program's stamps of a purchase to void so that ``keep`` remain.

    Stamps still available go first (the latest first), then redeemed ones: a reward already
    given is not taken back, but its stamps stop counting (a reversal will not return them).
    """
    alive = [s for s in stamps if s.status != "voided"]
    excess = len(alive) - max(keep, 0)
    if excess <= 0:
        return []
    order = sorted(alive, key=lambda s: (s.status == "redeemed", -s.stamp_index))
    return order[:excess]


async def void_stamps(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    stamps: Sequence[Any],
    purchase: PurchaseFacts,
    *,
    now: datetime,
    source: str,
) -> list[StampChange]:
    if not stamps:
        return []
    qp = QualifyingPurchase
    ids = [s.id for s in stamps]
    result = await session.execute(
        update(qp)
        .where(qp.id.in_(ids), qp.status != "voided")
        .values(status="voided", voided_at=now, updated_at=now)
        .returning(qp.id, qp.program_id)
        .execution_options(synchronize_session=False)
    )
    order = {s.id: i for i, s in enumerate(stamps)}
    changes = []
    for row in sorted(result.all(), key=lambda r: order[r.id]):
        await emit_qualifying_purchase(
            session,
            "voided",
            workspace_id=workspace_id,
            qualifying_purchase_id=row.id,
            program_id=row.program_id,
            purchase_id=purchase.purchase_id,
            transaction_ref=purchase.external_id,
            now=now,
            source=source,
        )
        changes.append(StampChange(row.id, row.program_id))
    return changes


async def stamp_counts(session: AsyncSession, card_id: uuid.UUID) -> dict[str, int]:
    """How many of the card's stamps are in each state."""
    qp = QualifyingPurchase
    rows = (
        await session.execute(
            select(qp.status, func.count()).where(qp.card_id == card_id).group_by(qp.status)
        )
    ).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts
