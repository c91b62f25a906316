from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.rules import service
from goodwill.rules.schemas import RuleCreate, RuleOut, RulePatch


@post(
    "/programs/{program_id:uuid}/rules",
    tags=["rules"],
    status_code=201,
    summary="Create a reward rule in a referral program",
    description="See docs/referrals.md for triggers, conditions, rewards, limits, hold_days "
    "and exclusive groups.",
)
async def create_rule(
    request: Request[Any, Any, Any], program_id: FromPath[uuid.UUID], data: JSONBody[RuleCreate]
) -> Response[RuleOut]:
    async with unit_of_work(request) as ctx:
        rule, program = await service.create(
            ctx.session, ctx.workspace_id, program_id, data, ctx.now
        )
        return ctx.respond(RuleOut.of(rule, program.currency), 201)


@get(
    "/programs/{program_id:uuid}/rules/{rule_id:uuid}",
    tags=["rules"],
    summary="Retrieve a reward rule",
)
async def get_rule(
    request: Request[Any, Any, Any], program_id: FromPath[uuid.UUID], rule_id: FromPath[uuid.UUID]
) -> Response[RuleOut]:
    async with read_only(request) as ctx:
        rule, program = await service.get(ctx.session, ctx.workspace_id, program_id, rule_id)
        return ctx.respond(RuleOut.of(rule, program.currency))


@patch(
    "/programs/{program_id:uuid}/rules/{rule_id:uuid}",
    tags=["rules"],
    summary="Update a reward rule",
    description="The fields given replace the rule's; the whole rule is checked again. "
    "Rewards already granted keep their amounts.",
)
async def patch_rule(
    request: Request[Any, Any, Any],
    program_id: FromPath[uuid.UUID],
    rule_id: FromPath[uuid.UUID],
    data: JSONBody[RulePatch],
) -> Response[RuleOut]:
    async with unit_of_work(request) as ctx:
        rule, program = await service.patch(
            ctx.session, ctx.workspace_id, program_id, rule_id, data=data, now=ctx.now
        )
        return ctx.respond(RuleOut.of(rule, program.currency))


@get(
    "/programs/{program_id:uuid}/rules",
    tags=["rules"],
    summary="List a program's reward rules, newest first",
)
async def list_rules(
    request: Request[Any, Any, Any],
    program_id: FromPath[uuid.UUID],
    *,
    trigger: FromQuery[str | None] = None,
    active: FromQuery[bool | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[RuleOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor, program = await service.list_(
            ctx.session,
            ctx.workspace_id,
            program_id,
            trigger=trigger,
            active=active,
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([RuleOut.of(r, program.currency) for r in rows], next_cursor))


routes = [create_rule, get_rule, patch_rule, list_rules]
