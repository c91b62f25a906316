"""Promoters: created in a referral program with a default link; read, listed, locked."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers.service import CustomerRepository
from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.links import service as links
from goodwill.links.models import ReferralLink
from goodwill.programs import service as programs
from goodwill.promoters.models import Promoter
from goodwill.promoters.schemas import PromoterCreate

PROMOTERS: Table = Promoter.__table__  # type: ignore[assignment]


class PromoterRepository(Repository[Promoter]):
    model = Promoter
    noun = "promoter"


async def create(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    data: PromoterCreate,
    now: datetime,
) -> tuple[Promoter, ReferralLink]:
    program = await programs.get(session, workspace_id, program_id, kind="referral")
    if program.status == "archived":
        raise Conflict("The program is archived; it takes no new promoters")
    if data.customer_id is not None:
        await CustomerRepository(session, workspace_id).get(data.customer_id, param="customer_id")
    promoter_id = new_id()
    inserted = await insert_or_nothing(
        session,
        PROMOTERS,
        {
            "id": promoter_id,
            "workspace_id": workspace_id,
            "program_id": program.id,
            "name": data.name,
            "email": data.email,
            "customer_id": data.customer_id,
            "external_id": data.external_id,
            "metadata": data.metadata,
            "created_at": now,
            "updated_at": now,
        },
        ["workspace_id", "program_id", "external_id"],
    )
    if not inserted:
        raise Conflict(
            f"A promoter with external_id {data.external_id!r} exists in this program",
            param="external_id",
        )
    promoter = await PromoterRepository(session, workspace_id).get(promoter_id)
    link = await links.create(
        session,
        promoter,
        destination_url=data.destination_url,
        program_settings=program.settings,
        code=data.code,
        utm_params=data.utm_params,
        now=now,
    )
    return promoter, link


async def get(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    promoter_id: uuid.UUID,
    *,
    param: str | None = None,
    for_update: bool = False,
) -> Promoter:
    return await PromoterRepository(session, workspace_id).get(
        promoter_id, param=param, for_update=for_update
    )


async def lock(session: AsyncSession, workspace_id: uuid.UUID, promoter_id: uuid.UUID) -> None:
    """Hold the promoter's row until the transaction ends."""
    await PromoterRepository(session, workspace_id).lock(promoter_id)


async def by_customer(
    session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID
) -> Promoter | None:
    """The customer's oldest promoter (a customer who refers others), if any."""
    stmt = (
        PromoterRepository(session, workspace_id)
        .select()
        .where(Promoter.customer_id == customer_id)
        .order_by(Promoter.id)
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    program_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    email: str | None,
    external_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Promoter], str | None]:
    stmt = PromoterRepository(session, workspace_id).select()
    if program_id is not None:
        stmt = stmt.where(Promoter.program_id == program_id)
    if customer_id is not None:
        stmt = stmt.where(Promoter.customer_id == customer_id)
    if email is not None:
        stmt = stmt.where(Promoter.email == email)
    if external_id is not None:
        stmt = stmt.where(Promoter.external_id == external_id)
    return await fetch_page(session, stmt, Promoter.id, limit, cursor)


async def all_in_program(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID, *, for_update: bool
) -> Sequence[Promoter]:
    """Every promoter of the program, in id order (the lock order)."""
    stmt = (
        PromoterRepository(session, workspace_id)
        .select()
        .where(Promoter.program_id == program_id)
        .order_by(Promoter.id)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).all()
