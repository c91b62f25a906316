"""Cards: one per customer and program, made on first use, named by a public ``code``.

Every change that spends or takes back stamps or points locks the card row first
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serializes writers), several cards in id order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers import service as customers
from goodwill.db.raw import Sql, raw, view
from goodwill.db.repository import Repository
from goodwill.ids import new_id, random_code
from goodwill.loyalty.models import LoyaltyCard

CODE_LENGTH = 12
_ATTEMPTS = 5
KNOWN = "goodwill.loyalty.known_cards"  # session.info: cards read ahead, by (program, customer)


class CardRepository(Repository[LoyaltyCard]):
    model = LoyaltyCard
    noun = "loyalty card"

    async def for_customer(
        self, program_id: uuid.UUID, customer_id: uuid.UUID
    ) -> LoyaltyCard | None:
        stmt = self.select().where(
            LoyaltyCard.program_id == program_id, LoyaltyCard.customer_id == customer_id
        )
        return (await self.session.scalars(stmt)).first()

    async def by_code(self, code: str) -> LoyaltyCard | None:
        return (await self.session.scalars(self.select().where(LoyaltyCard.code == code))).first()


_CARD = Sql(
    "SELECT id, code, created_at FROM loyalty_cards "
    "WHERE program_id = :program_id AND customer_id = :customer_id"
)
# No conflict target: a concurrent card for the same customer, or (astronomically rarely) a
# code already taken, both end in DO NOTHING and no row back; the read that follows tells them
# apart. A new card costs two statements, an existing one a single read.
_INSERT = Sql(
    "INSERT INTO loyalty_cards (id, workspace_id, program_id, customer_id, code, created_at) "
    "VALUES (:id, :workspace_id, :program_id, :customer_id, :code, :created_at) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


def known(
    session: AsyncSession,
    customer_id: uuid.UUID,
    program_ids: Iterable[uuid.UUID],
    cards: Mapping[uuid.UUID, tuple[uuid.UUID, str, datetime]],
) -> None:
    """What the transaction read of the customer's cards in ``program_ids`` (``cards``: by
    program, id, code and creation; a program missing from it: no card then), so that
    :func:`ensure_card` need not read them again. Cards are never deleted; one made since
    by another transaction is found by the insert's conflict, as ever."""
    found: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, str, datetime] | None]
    found = session.info.setdefault(KNOWN, {})
    for program_id in program_ids:
        found[(program_id, customer_id)] = cards.get(program_id)


async def ensure_card(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> LoyaltyCard:
    """The customer's card in the program, created (with a fresh code) if it has none."""
    db = await raw(session)
    ahead = session.info.get(KNOWN, {})
    if (program_id, customer_id) in ahead:  # read ahead (known): not read again
        read_first = False
        found = ahead[(program_id, customer_id)]
        if found is not None:
            return _card(workspace_id, program_id, customer_id, found)
    else:  # a customer created just now has no card
        read_first = not customers.created_here(session, customer_id)
    for attempt in range(_ATTEMPTS + 1):
        if attempt > 0 or read_first:
            row = await db.one(_CARD, program_id=program_id, customer_id=customer_id)
            if row is not None:
                found = (db.uuid_of(row[0]), row[1], db.time_of(row[2]))
                return _card(workspace_id, program_id, customer_id, found)
        if attempt == _ATTEMPTS:
            break
        values = {
            "id": new_id(),
            "workspace_id": workspace_id,
            "program_id": program_id,
            "customer_id": customer_id,
            "code": random_code(CODE_LENGTH),
            "created_at": now,
        }
        if await db.one(_INSERT, **values) is not None:
            return view(LoyaltyCard, values)
    raise RuntimeError("could not draw a free card code")  # pragma: no cover


def _card(
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    customer_id: uuid.UUID,
    found: tuple[uuid.UUID, str, datetime],
) -> LoyaltyCard:
    """A card as read: ``found`` is its id, code and creation."""
    card_id, code, created_at = found
    return view(
        LoyaltyCard,
        {
            "id": card_id,
            "workspace_id": workspace_id,
            "program_id": program_id,
            "customer_id": customer_id,
            "code": code,
            "created_at": created_at,
        },
    )


async def lock_cards(session: AsyncSession, card_ids: Iterable[uuid.UUID]) -> None:
    """Lock the cards' rows until the transaction ends, in id order (no deadlocks)."""
    ids = sorted(set(card_ids))
    if not ids or session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction already holds the database's write lock
    await session.execute(
        select(LoyaltyCard.id)
        .where(LoyaltyCard.id.in_(ids))
        .order_by(LoyaltyCard.id)
        .with_for_update()
    )


async def lock_card_or_skip(session: AsyncSession, card_id: uuid.UUID) -> bool:
    """Lock one card unless another transaction holds it (then False: try it later)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    locked = await session.scalar(
        select(LoyaltyCard.id).where(LoyaltyCard.id == card_id).with_for_update(skip_locked=True)
    )
    return locked is not None
