"""Programs: create, read, update (name, status, settings), list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.repository import Repository
from goodwill.errors import Conflict
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.money import check_currency
from goodwill.programs import settings as program_settings
from goodwill.programs.models import Program
from goodwill.programs.schemas import ProgramCreate, ProgramPatch


class ProgramRepository(Repository[Program]):
    model = Program
    noun = "program"


def config_changed(session: AsyncSession) -> None:
    """After changing programs or rules: the rest of this transaction reads the workspace's
    configuration again (the triggers already gave it a new ``config_version``)."""
    from goodwill.workspaces import config  # it reads programs and rules: it sits above them

    config.forget(session)


async def create(
    session: AsyncSession, workspace_id: uuid.UUID, data: ProgramCreate, now: datetime
) -> Program:
    check_currency(data.currency)
    program = Program(
        id=new_id(),
        workspace_id=workspace_id,
        kind=data.kind,
        name=data.name,
        currency=data.currency,
        status=data.status,
        settings=program_settings.validate(data.kind, data.settings, data.currency),
        created_at=now,
        updated_at=now,
    )
    session.add(program)
    await session.flush()
    config_changed(session)
    return program


async def get(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    *,
    kind: str | None = None,
    for_update: bool = False,
    param: str | None = None,
) -> Program:
    """The program; with ``kind``, a program of another kind reads as missing."""
    program = await ProgramRepository(session, workspace_id).get(
        program_id, for_update=for_update, param=param
    )
    if kind is not None and program.kind != kind:
        raise Conflict(
            f"Program {program_id} is a {program.kind} program, not a {kind} program", param=param
        )
    return program


async def patch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    data: ProgramPatch,
    now: datetime,
) -> Program:
    program = await get(session, workspace_id, program_id, for_update=True)
    if program.status == "archived" and data.status is not UNSET and data.status != "archived":
        raise Conflict("An archived program cannot be reopened; create a new one", param="status")
    if data.name is not UNSET:
        program.name = data.name
    if data.status is not UNSET:
        program.status = data.status
    if data.settings is not UNSET:
        program.settings = program_settings.validate(program.kind, data.settings, program.currency)
    program.updated_at = now
    await session.flush()
    config_changed(session)
    return program


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    kind: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Program], str | None]:
    stmt = ProgramRepository(session, workspace_id).select()
    if kind is not None:
        stmt = stmt.where(Program.kind == kind)
    if status is not None:
        stmt = stmt.where(Program.status == status)
    return await fetch_page(session, stmt, Program.id, limit, cursor)


async def active(
    session: AsyncSession, workspace_id: uuid.UUID, kinds: Sequence[str]
) -> Sequence[Program]:
    """The workspace's active programs of these kinds, oldest first (paused ones grant nothing)."""
    stmt = (
        ProgramRepository(session, workspace_id)
        .select()
        .where(Program.kind.in_(kinds), Program.status == "active")
        .order_by(Program.id)
    )
    return (await session.scalars(stmt)).all()


async def get_many(
    session: AsyncSession, workspace_id: uuid.UUID, program_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Program]:
    """The workspace's programs among ``program_ids``, whatever their status, by id."""
    if not program_ids:
        return {}
    stmt = ProgramRepository(session, workspace_id).select().where(Program.id.in_(program_ids))
    return {p.id: p for p in (await session.scalars(stmt)).all()}
