from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.links import service as links
from goodwill.links.schemas import LinkOut
from goodwill.promoters import service
from goodwill.promoters.schemas import PromoterCreate, PromoterOut
from goodwill.promoters.stats import detail


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.app.state.settings.public_base_url)


@post(
    "/programs/{program_id:uuid}/promoters",
    tags=["promoters"],
    status_code=201,
    summary="Create a promoter and its default referral link",
)
async def create_promoter(
    request: Request[Any, Any, Any], program_id: FromPath[uuid.UUID], data: JSONBody[PromoterCreate]
) -> Response[PromoterOut]:
    async with unit_of_work(request) as ctx:
        promoter, _ = await service.create(ctx.session, ctx.workspace_id, program_id, data, ctx.now)
        out = await detail(ctx.session, ctx.workspace_id, promoter, _base_url(request))
        return ctx.respond(out, 201)


@get(
    "/promoters/{promoter_id:uuid}",
    tags=["promoters"],
    summary="Retrieve a promoter with live stats and balances",
)
async def get_promoter(
    request: Request[Any, Any, Any], promoter_id: FromPath[uuid.UUID]
) -> Response[PromoterOut]:
    async with read_only(request) as ctx:
        promoter = await service.get(ctx.session, ctx.workspace_id, promoter_id)
        return ctx.respond(
            await detail(ctx.session, ctx.workspace_id, promoter, _base_url(request))
        )


@get(
    "/promoters",
    tags=["promoters"],
    summary="List promoters, newest first",
    description="Stats and balances come with GET /v1/promoters/{id}.",
)
async def list_promoters(
    request: Request[Any, Any, Any],
    *,
    program_id: FromQuery[uuid.UUID | None] = None,
    customer_id: FromQuery[uuid.UUID | None] = None,
    email: FromQuery[str | None] = None,
    external_id: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[PromoterOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session,
            ctx.workspace_id,
            program_id=program_id,
            customer_id=customer_id,
            email=email,
            external_id=external_id,
            limit=limit,
            cursor=cursor,
        )
        found = await links.default_links(ctx.session, ctx.workspace_id, [p.id for p in rows])
        base = _base_url(request)
        data = [
            PromoterOut.of(p, link=LinkOut.of(found[p.id], base) if p.id in found else None)
            for p in rows
        ]
        return ctx.respond(page(data, next_cursor))


routes = [create_promoter, get_promoter, list_promoters]
