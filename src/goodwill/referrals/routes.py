from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.referrals import service
from goodwill.referrals.schemas import LeadCreate, LeadOut, ReferralOut
from goodwill.rewards import service as rewards
from goodwill.rewards.schemas import RewardOut


@post(
    "/leads",
    tags=["referrals"],
    status_code=201,
    summary="Report a lead: a customer and how they came (code, link_id or click_id)",
    description="A new referral fires the program's lead rules. First touch wins: when the "
    "customer was referred before, status is already_referred and referral is the one that "
    "stands. A self-referral is recorded with status refused and reason self_referral.",
)
async def create_lead(
    request: Request[Any, Any, Any], data: JSONBody[LeadCreate]
) -> Response[LeadOut]:
    async with unit_of_work(request) as ctx:
        result = await service.create_lead(ctx.session, ctx.workspace_id, data, ctx.now, ctx.source)
        out = LeadOut.of(result.lead, result.referral, [RewardOut.of(r) for r in result.rewards])
        return ctx.respond(out, 201)


@get("/leads/{lead_id:uuid}", tags=["referrals"], summary="Retrieve a lead")
async def get_lead(
    request: Request[Any, Any, Any], lead_id: FromPath[uuid.UUID]
) -> Response[LeadOut]:
    async with read_only(request) as ctx:
        lead = await service.get_lead(ctx.session, ctx.workspace_id, lead_id)
        referral = None
        if lead.referral_id is not None:
            referral = await service.get_referral(ctx.session, ctx.workspace_id, lead.referral_id)
        granted = await rewards.for_sources(ctx.session, ctx.workspace_id, "lead", [lead.id])
        return ctx.respond(LeadOut.of(lead, referral, [RewardOut.of(r) for r in granted[lead.id]]))


@get("/leads", tags=["referrals"], summary="List leads, newest first")
async def list_leads(
    request: Request[Any, Any, Any],
    *,
    customer_id: FromQuery[uuid.UUID | None] = None,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[Literal["referred", "already_referred", "refused"] | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[LeadOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_leads(
            ctx.session,
            ctx.workspace_id,
            filters={"customer_id": customer_id, "promoter_id": promoter_id, "status": status},
            limit=limit,
            cursor=cursor,
        )
        found = await service.referrals_by_id(
            ctx.session, ctx.workspace_id, [lead.referral_id for lead in rows]
        )
        granted = await rewards.for_sources(
            ctx.session, ctx.workspace_id, "lead", [lead.id for lead in rows]
        )
        data = [
            LeadOut.of(
                lead,
                found.get(lead.referral_id) if lead.referral_id else None,
                [RewardOut.of(r) for r in granted[lead.id]],
            )
            for lead in rows
        ]
        return ctx.respond(page(data, next_cursor))


@get("/referrals/{referral_id:uuid}", tags=["referrals"], summary="Retrieve a referral")
async def get_referral(
    request: Request[Any, Any, Any], referral_id: FromPath[uuid.UUID]
) -> Response[ReferralOut]:
    async with read_only(request) as ctx:
        referral = await service.get_referral(ctx.session, ctx.workspace_id, referral_id)
        return ctx.respond(ReferralOut.of(referral))


@get("/referrals", tags=["referrals"], summary="List referrals, newest first")
async def list_referrals(
    request: Request[Any, Any, Any],
    *,
    customer_id: FromQuery[uuid.UUID | None] = None,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    program_id: FromQuery[uuid.UUID | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[ReferralOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_referrals(
            ctx.session,
            ctx.workspace_id,
            filters={
                "customer_id": customer_id,
                "promoter_id": promoter_id,
                "program_id": program_id,
            },
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([ReferralOut.of(r) for r in rows], next_cursor))


routes = [create_lead, get_lead, list_leads, get_referral, list_referrals]
