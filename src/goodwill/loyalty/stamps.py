"""Stamps: qualifying purchases created by purchases, voided by refunds.

A purchase's stamps are rows ``(program, purchase, stamp_index)``. A new purchase's stamps
take ids made of the purchase's (:func:`stamp_id`): the primary key refuses them written twice,
and they sort as their purchases do. A purchase recorded again is asked, under its card's lock,
which of its stamps it already has, so it adds nothing (migration 0026). Their states and
events follow seed 001.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import insert_into, raw
from goodwill.events.service import write_with_outbox
from goodwill.ids import new_id
from goodwill.loyalty.cards import lock_cards
from goodwill.loyalty.events import emit_qualifying_purchase
from goodwill.loyalty.facts import PurchaseFacts, StampChange
from goodwill.loyalty.models import LoyaltyCard, QualifyingPurchase
from goodwill.programs.models import Program
from goodwill.purchases.models import Purchase

AVAILABLE = ("created", "unredeemed")
STAMPS: Table = QualifyingPurchase.__table__  # type: ignore[assignment]
_INSERT = insert_into(STAMPS)  # a conflict is an error
_LOW_32 = (1 << 32) - 1


def stamp_id(purchase_id: uuid.UUID, ordinal: int) -> uuid.UUID:
    """The id of a new purchase's ``ordinal``-th stamp (0, 1, … across all its programs, below
    2^32 - 1): the purchase's UUIDv7 with its last 32 bits (random) advanced by
    ``ordinal + 1``, modulo 2^32. Its first 96 bits (time, version, counter) are the purchase's, so stamps sort as their
    purchases do; its stamps' ids differ from one another, and from every other purchase's
    but for two purchases whose first 96 bits are the same (ids from one generator never
    are; a purchase's stamps are its only rows made this way)."""
    low = (purchase_id.int + ordinal + 1) & _LOW_32
    return uuid.UUID(int=purchase_id.int & ~_LOW_32 | low)


def cards_of(workspace_id: uuid.UUID, customer_id: Any) -> Select[Any]:
    """The ids of a customer's cards in the workspace's programs: each program's card of a
    customer is one entry of the cards' ``(program_id, customer_id)`` index. ``customer_id``:
    an id, or an expression that gives one."""
    programs = select(Program.id).where(Program.workspace_id == workspace_id)
    card = LoyaltyCard
    return select(card.id).where(card.program_id.in_(programs), card.customer_id == customer_id)


def of_purchase(
    workspace_id: uuid.UUID, purchase_id: uuid.UUID, customer_id: Any | None = None
) -> list[Any]:
    """The conditions that find a purchase's stamps: through its customer's cards
    (:func:`cards_of`) and each card's stamps (their index by card). ``customer_id``: the
    purchase's customer, when known; else read from the purchase."""
    qp = QualifyingPurchase
    if customer_id is None:
        customer_id = (
            select(Purchase.customer_id)
            .where(Purchase.workspace_id == workspace_id, Purchase.id == purchase_id)
            .scalar_subquery()
        )
    return [qp.card_id.in_(cards_of(workspace_id, customer_id)), qp.purchase_id == purchase_id]


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
    first: int = 0,
) -> list[StampChange]:
    """Give ``count`` stamps for ``purchase``; stamps it already gave are not given again.

    ``new_purchase``: recorded in this transaction, so it has no stamps yet; they take the ids
    :func:`stamp_id` makes from ``first`` on (the stamps given in earlier programs so far) and
    are written with the transaction's events (``goodwill.events.service.write_with_outbox``):
    one that exists after all fails the transaction instead of being skipped. Otherwise the
    card is locked, the purchase's stamps in the program read, and the missing ones written
    with ids of their own."""
    if count <= 0:
        return []
    given: set[int] = set()
    if not new_purchase:
        await lock_cards(session, [card_id])
        given = set(
            (
                await session.scalars(
                    select(QualifyingPurchase.stamp_index).where(
                        QualifyingPurchase.card_id == card_id,
                        QualifyingPurchase.purchase_id == purchase.purchase_id,
                        QualifyingPurchase.program_id == program_id,
                    )
                )
            ).all()
        )
    rows: list[dict[str, Any]] = [
        {
            "id": stamp_id(purchase.purchase_id, first + index) if new_purchase else new_id(),
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
        for index in range(count)
        if index not in given
    ]
    if new_purchase:
        write_with_outbox(session, (_INSERT, rows))
    elif rows:
        await (await raw(session)).insert((_INSERT, rows))
    changes = []
    for row in rows:
        made = row["id"]
        await emit_qualifying_purchase(
            session,
            "created",
            workspace_id=workspace_id,
            qualifying_purchase_id=made,
            program_id=program_id,
            purchase_id=purchase.purchase_id,
            transaction_ref=purchase.external_id,
            now=now,
            source=source,
            as_written=True,
        )
        changes.append(StampChange(made, program_id))
    return changes


async def stamps_of_purchase(
    session: AsyncSession, workspace_id: uuid.UUID, purchase: PurchaseFacts
) -> Sequence[Any]:
    """Every stamp a purchase gave, in every program: (id, program_id, card_id, status, index)."""
    qp = QualifyingPurchase
    stmt = select(qp.id, qp.program_id, qp.card_id, qp.status, qp.stamp_index).where(
        *of_purchase(workspace_id, purchase.purchase_id, purchase.customer_id)
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
