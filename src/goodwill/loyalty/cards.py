"""Cards: one per customer and program, made on first use, named by a public ``code``.

Every change that spends or takes back stamps or points locks the card row first
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serializes writers), several cards in id order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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


async def ensure_card(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> LoyaltyCard:
    """The customer's card in the program, created (with a fresh code) if it has none."""
    db = await raw(session)
    new_customer = customers.created_here(session, customer_id)
    for attempt in range(_ATTEMPTS + 1):
        row = None
        if not (attempt == 0 and new_customer):  # a customer created just now has no card
            row = await db.one(_CARD, program_id=program_id, customer_id=customer_id)
        if row is not None:
            return view(
                LoyaltyCard,
                {
                    "id": db.uuid_of(row[0]),
                    "workspace_id": workspace_id,
                    "program_id": program_id,
                    "customer_id": customer_id,
                    "code": row[1],
                    "created_at": db.time_of(row[2]),
                },
            )
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
