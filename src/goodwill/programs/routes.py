from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.programs import service
from goodwill.programs.schemas import Kind, ProgramCreate, ProgramOut, ProgramPatch, Status


@post(
    "/programs",
    tags=["programs"],
    status_code=201,
    summary="Create a program",
    description="kind is referral, stamps or points; settings depend on the kind (see docs).",
)
async def create_program(
    request: Request[Any, Any, Any], data: JSONBody[ProgramCreate]
) -> Response[ProgramOut]:
    async with unit_of_work(request) as ctx:
        program = await service.create(ctx.session, ctx.workspace_id, data, ctx.now)
        return ctx.respond(ProgramOut.of(program), 201)


@get("/programs/{program_id:uuid}", tags=["programs"], summary="Retrieve a program")
async def get_program(
    request: Request[Any, Any, Any], program_id: FromPath[uuid.UUID]
) -> Response[ProgramOut]:
    async with read_only(request) as ctx:
        return ctx.respond(
            ProgramOut.of(await service.get(ctx.session, ctx.workspace_id, program_id))
        )


@patch(
    "/programs/{program_id:uuid}",
    tags=["programs"],
    summary="Update a program's name, status or settings",
    description="A paused program records events but grants nothing; archived is final.",
)
async def patch_program(
    request: Request[Any, Any, Any], program_id: FromPath[uuid.UUID], data: JSONBody[ProgramPatch]
) -> Response[ProgramOut]:
    async with unit_of_work(request) as ctx:
        program = await service.patch(ctx.session, ctx.workspace_id, program_id, data, ctx.now)
        return ctx.respond(ProgramOut.of(program))


@get("/programs", tags=["programs"], summary="List programs, newest first")
async def list_programs(
    request: Request[Any, Any, Any],
    kind: FromQuery[Kind | None] = None,
    status: FromQuery[Status | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[ProgramOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session, ctx.workspace_id, kind=kind, status=status, limit=limit, cursor=cursor
        )
        return ctx.respond(page([ProgramOut.of(p) for p in rows], next_cursor))


routes = [create_program, get_program, patch_program, list_programs]
