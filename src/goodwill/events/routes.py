from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter

from goodwill.events import feed
from goodwill.events.formats import render
from goodwill.http.context import read_only
from goodwill.http.pagination import DEFAULT_LIMIT, Limit
from goodwill.http.schema import Output

FormatParam = Annotated[
    Literal["cloudevents", "cloudevents_seed", "flat"],
    QueryParameter(description="How each event is shown (the webhook formats)"),
]


class FeedPage(Output):
    data: list[dict[str, Any]]
    has_more: bool
    next_cursor: str
    object: str = "list"


@get(
    "/events",
    tags=["events"],
    summary="The event feed, oldest first",
    description=(
        "Follow `next_cursor` with `after` to see every event exactly once, in a stable order. "
        "`types` filters by comma-separated types or families (`reward.*`). An empty page "
        "returns the same cursor: poll again later."
    ),
)
async def list_events(
    request: Request[Any, Any, Any],
    after: FromQuery[str | None] = None,
    types: FromQuery[str | None] = None,
    format: FormatParam = "cloudevents",
    limit: Limit = DEFAULT_LIMIT,
) -> Response[FeedPage]:
    async with read_only(request) as ctx:
        patterns = feed.parse_types(types)
        events, cursor, has_more = await feed.read(
            ctx.session, ctx.workspace_id, after=after, patterns=patterns, limit=limit
        )
        prefix = ctx.principal.event_type_prefix
        body = FeedPage(
            data=[render(e, prefix, format) for e in events],
            has_more=has_more,
            next_cursor=cursor,
        )
        return ctx.respond(body)


@get("/events/{event_id:uuid}", tags=["events"], summary="Retrieve an event")
async def get_event(
    request: Request[Any, Any, Any],
    event_id: FromPath[uuid.UUID],
    format: FormatParam = "cloudevents",
) -> Response[dict[str, Any]]:
    async with read_only(request) as ctx:
        event = await feed.get(ctx.session, ctx.workspace_id, event_id)
        return ctx.respond(render(event, ctx.principal.event_type_prefix, format))


routes = [list_events, get_event]
