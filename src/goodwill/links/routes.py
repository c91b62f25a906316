from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.links import service
from goodwill.links.schemas import ClickOut, LinkCreate, LinkOut
from goodwill.programs import service as programs
from goodwill.promoters import service as promoters


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.app.state.settings.public_base_url)


@post(
    "/links",
    tags=["links"],
    status_code=201,
    summary="Create a referral link for a promoter",
    description="A vanity code (3-64 of A-Z a-z 0-9 - _) is unique across the install; "
    "without one, an 8-character code is generated from an unambiguous alphabet.",
)
async def create_link(
    request: Request[Any, Any, Any], data: JSONBody[LinkCreate]
) -> Response[LinkOut]:
    async with unit_of_work(request) as ctx:
        promoter = await promoters.get(
            ctx.session, ctx.workspace_id, data.promoter_id, param="promoter_id"
        )
        program = await programs.get(ctx.session, ctx.workspace_id, promoter.program_id)
        link = await service.create(
            ctx.session,
            promoter,
            destination_url=data.destination_url,
            program_settings=program.settings,
            code=data.code,
            utm_params=data.utm_params,
            now=ctx.now,
        )
        return ctx.respond(LinkOut.of(link, _base_url(request)), 201)


@get("/links/{link_id:uuid}", tags=["links"], summary="Retrieve a referral link")
async def get_link(
    request: Request[Any, Any, Any], link_id: FromPath[uuid.UUID]
) -> Response[LinkOut]:
    async with read_only(request) as ctx:
        link = await service.get(ctx.session, ctx.workspace_id, link_id)
        return ctx.respond(LinkOut.of(link, _base_url(request)))


@get("/links", tags=["links"], summary="List referral links, newest first")
async def list_links(
    request: Request[Any, Any, Any],
    *,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    program_id: FromQuery[uuid.UUID | None] = None,
    code: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[LinkOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session,
            ctx.workspace_id,
            promoter_id=promoter_id,
            program_id=program_id,
            code=code,
            limit=limit,
            cursor=cursor,
        )
        base = _base_url(request)
        return ctx.respond(page([LinkOut.of(link, base) for link in rows], next_cursor))


@get("/clicks/{click_id:uuid}", tags=["links"], summary="Retrieve a click")
async def get_click(
    request: Request[Any, Any, Any], click_id: FromPath[uuid.UUID]
) -> Response[ClickOut]:
    async with read_only(request) as ctx:
        return ctx.respond(
            ClickOut.of(await service.get_click(ctx.session, ctx.workspace_id, click_id))
        )


@get("/clicks", tags=["links"], summary="List clicks, newest first")
async def list_clicks(
    request: Request[Any, Any, Any],
    *,
    link_id: FromQuery[uuid.UUID | None] = None,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[ClickOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_clicks(
            ctx.session,
            ctx.workspace_id,
            link_id=link_id,
            promoter_id=promoter_id,
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([ClickOut.of(c) for c in rows], next_cursor))


routes = [create_link, get_link, list_links, get_click, list_clicks]
