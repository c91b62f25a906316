from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.errors import ValidationFailed
from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.tracking import event_schemas, service
from goodwill.tracking.schemas import EventIn, EventOut, EventSchemaIn, EventSchemaOut


@post(
    "/events",
    tags=["events"],
    status_code=200,
    summary="Track a custom event (seed 003)",
    description=(
        "Upserts the customer, checks metadata against the event's schema (400 listing every "
        "violation), records the event and fires the earning rules triggered by its name."
    ),
)
async def track_event(
    request: Request[Any, Any, Any], data: JSONBody[EventIn]
) -> Response[EventOut]:
    async with unit_of_work(request) as ctx:
        out = await service.track(
            ctx.session,
            ctx.workspace_id,
            data,
            require_schema=bool(ctx.principal.workspace_settings.get("events_require_schema")),
            channel="server",
            now=ctx.now,
            source=ctx.source,
        )
        return ctx.respond(out)


SCHEMA_PATH = "/event-schemas/"


def _event_name(request: Request[Any, Any, Any], routed: str) -> str:
    """The event name exactly as the URL gives it, percent-decoded (``%2F`` is a ``/`` in the
    name). The ``path`` parameter matches names with slashes, but the router merges and trims
    slashes, so the name is read from the raw path."""
    raw: bytes | None = request.scope.get("raw_path")
    if not raw:
        return routed.removeprefix("/")
    path = raw.decode("latin-1").split("?", 1)[0]
    start = path.find(SCHEMA_PATH)
    if start < 0:
        return routed.removeprefix("/")
    try:
        return unquote(path[start + len(SCHEMA_PATH) :], errors="strict")
    except UnicodeDecodeError:
        raise ValidationFailed.single("event_name", "is not UTF-8 once percent-decoded") from None


@put(
    "/event-schemas/{event_name:path}",
    tags=["events"],
    summary="Create or replace the schema of a custom event",
    description="201 when created, 200 when replaced.",
)
async def put_event_schema(
    request: Request[Any, Any, Any], event_name: FromPath[str], data: JSONBody[EventSchemaIn]
) -> Response[EventSchemaOut]:
    name = _event_name(request, event_name)
    async with unit_of_work(request) as ctx:
        schema, created = await event_schemas.put(
            ctx.session, ctx.workspace_id, name, data, ctx.now
        )
        return ctx.respond(EventSchemaOut.of(schema), 201 if created else 200)


@get("/event-schemas/{event_name:path}", tags=["events"], summary="Retrieve an event schema")
async def get_event_schema(
    request: Request[Any, Any, Any], event_name: FromPath[str]
) -> Response[EventSchemaOut]:
    name = _event_name(request, event_name)
    async with read_only(request) as ctx:
        schema = await event_schemas.get(ctx.session, ctx.workspace_id, name)
        return ctx.respond(EventSchemaOut.of(schema))


@delete(
    "/event-schemas/{event_name:path}",
    tags=["events"],
    status_code=204,
    summary="Delete an event schema",
)
async def delete_event_schema(request: Request[Any, Any, Any], event_name: FromPath[str]) -> None:
    name = _event_name(request, event_name)
    async with unit_of_work(request) as ctx:
        await event_schemas.remove(ctx.session, ctx.workspace_id, name)


@get("/event-schemas", tags=["events"], summary="List event schemas, newest first")
async def list_event_schemas(
    request: Request[Any, Any, Any],
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[EventSchemaOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await event_schemas.list_(
            ctx.session, ctx.workspace_id, limit=limit, cursor=cursor
        )
        return ctx.respond(page([EventSchemaOut.of(s) for s in rows], next_cursor))


routes = [track_event, put_event_schema, get_event_schema, delete_event_schema, list_event_schemas]
