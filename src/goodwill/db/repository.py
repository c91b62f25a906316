"""Tenant scoping is structural: a repository is built with a workspace id, and every statement
it makes starts from :meth:`Repository.select`, which already filters by that workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, Uuid, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from goodwill.errors import NotFound

M = TypeVar("M")


def among(
    session: AsyncSession,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    ids: Iterable[uuid.UUID],
) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL as ``= ANY($1::uuid[])``: one parameter and one
    statement text whatever the count, where ``IN`` renders and binds one per id."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Uuid())))
    return column.in_(list(ids))


class Repository(Generic[M]):
    model: ClassVar[Any]
    noun: ClassVar[str] = "object"

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def select(self) -> Select[M]:
        return select(self.model).where(self.model.workspace_id == self.workspace_id)

    async def find(self, id: uuid.UUID, *, for_update: bool = False) -> M | None:
        stmt = self.select().where(self.model.id == id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def get(self, id: uuid.UUID, *, for_update: bool = False, param: str | None = None) -> M:
        """The object, or a 404 that reads the same whether it exists elsewhere or nowhere."""
        found = await self.find(id, for_update=for_update)
        if found is None:
            raise NotFound(f"No {self.noun} {id}", param=param)
        return found

    async def lock(self, id: uuid.UUID) -> None:
        """Hold the row until the transaction ends. PostgreSQL only: SQLite writers are already
        serialized (``BEGIN IMMEDIATE``), so there it costs no round trip."""
        if self.session.get_bind().dialect.name == "sqlite":
            return
        await self.session.execute(
            select(self.model.id)
            .where(self.model.workspace_id == self.workspace_id, self.model.id == id)
            .with_for_update()
        )

    def add(self, obj: M) -> None:
        self.session.add(obj)
