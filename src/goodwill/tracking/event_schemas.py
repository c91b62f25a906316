"""Event schemas: one per event name in a workspace; put (create or replace), read, delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import msgspec
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import Sql, raw
from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import BadRequest, NotFound, SchemaViolation, ValidationFailed
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id
from goodwill.tracking.models import EventSchema
from goodwill.tracking.schemas import EventSchemaIn
from goodwill.tracking.validation import violations

MAX_NAME = 300
_BY_NAME = Sql(
    "SELECT properties, allow_unknown FROM event_schemas "
    "WHERE workspace_id = :workspace_id AND event_name = :name"
)


class EventSchemaRepository(Repository[EventSchema]):
    model = EventSchema
    noun = "event schema"

    async def by_name(self, name: str) -> EventSchema | None:
        stmt = self.select().where(EventSchema.event_name == name)
        return (await self.session.scalars(stmt.execution_options(populate_existing=True))).first()


def check_name(name: str) -> str:
    """An event name as events may carry it (PostgreSQL cannot even compare one with a NUL)."""
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed.single("event_name", f"must be 1-{MAX_NAME} characters")
    if "\x00" in name:
        raise ValidationFailed.single("event_name", "must not contain NUL characters")
    return name


async def put(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, data: EventSchemaIn, now: datetime
) -> tuple[EventSchema, bool]:
    """Create the schema of ``name``, or replace it; (schema, created)."""
    check_name(name)
    properties = msgspec.to_builtins(data.properties)
    inserted = await insert_or_nothing(
        session,
        EventSchema.__table__,  # type: ignore[arg-type]
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "event_name": name,
            "properties": properties,
            "allow_unknown": data.allow_unknown,
            "created_at": now,
            "updated_at": now,
        },
        ["workspace_id", "event_name"],
    )
    if not inserted:
        await session.execute(
            update(EventSchema)
            .where(EventSchema.workspace_id == workspace_id, EventSchema.event_name == name)
            .values(properties=properties, allow_unknown=data.allow_unknown, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    found = await EventSchemaRepository(session, workspace_id).by_name(name)
    assert found is not None
    return found, inserted


async def get(session: AsyncSession, workspace_id: uuid.UUID, name: str) -> EventSchema:
    found = await EventSchemaRepository(session, workspace_id).by_name(check_name(name))
    if found is None:
        raise NotFound(f"No event schema for {name!r}", param="event_name")
    return found


async def remove(session: AsyncSession, workspace_id: uuid.UUID, name: str) -> None:
    check_name(name)
    result = await session.execute(
        delete(EventSchema).where(
            EventSchema.workspace_id == workspace_id, EventSchema.event_name == name
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"No event schema for {name!r}", param="event_name")


async def list_(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[Sequence[EventSchema], str | None]:
    stmt = EventSchemaRepository(session, workspace_id).select()
    return await fetch_page(session, stmt, EventSchema.id, limit, cursor)


async def check_event(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    name: str,
    metadata: dict[str, object],
    *,
    require_schema: bool,
) -> None:
    """Refuse (400) metadata that breaks the event's schema, naming every violation; refuse an
    event without a schema when the workspace requires one."""
    db = await raw(session)
    schema = await db.one(_BY_NAME, workspace_id=workspace_id, name=name)
    if schema is None:
        if require_schema:
            raise BadRequest(
                f"No event schema for {name!r}, and this workspace accepts only events with a "
                f"schema: define it with PUT /v1/event-schemas/{{event_name}}, or set "
                f"events_require_schema to false with PATCH /v1/workspace",
                param="event",
                code="event_schema_missing",
            )
        return
    errors = violations(db.json_of(schema[0]), bool(schema[1]), metadata)
    if errors:
        raise SchemaViolation(
            errors,
            f"The metadata breaks the event schema of {name!r}: "
            + "; ".join(f"{e.param} {e.message}" for e in errors),
        )
