from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.rewards import service
from goodwill.rewards.export import rewards_csv
from goodwill.rewards.schemas import RewardOut, VoidIn

Status = Literal["pending", "approved", "paid", "voided"]
CSV = "text/csv; charset=utf-8"


def _filters(**given: Any) -> dict[str, Any]:
    return given


@get("/rewards", tags=["rewards"], summary="List rewards, newest first")
async def list_rewards(
    request: Request[Any, Any, Any],
    *,
    status: FromQuery[Status | None] = None,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    customer_id: FromQuery[uuid.UUID | None] = None,
    program_id: FromQuery[uuid.UUID | None] = None,
    purchase_id: FromQuery[uuid.UUID | None] = None,
    rule_id: FromQuery[uuid.UUID | None] = None,
    referral_id: FromQuery[uuid.UUID | None] = None,
    payout_id: FromQuery[uuid.UUID | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[RewardOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session,
            ctx.workspace_id,
            filters=_filters(
                status=status,
                promoter_id=promoter_id,
                customer_id=customer_id,
                program_id=program_id,
                purchase_id=purchase_id,
                rule_id=rule_id,
                referral_id=referral_id,
                payout_id=payout_id,
            ),
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([RewardOut.of(r) for r in rows], next_cursor))


@get(
    "/rewards/export",
    tags=["rewards"],
    summary="Export rewards as CSV",
    description="Every reward matching the filters (e.g. status=approved), oldest first.",
    media_type=CSV,
)
async def export_rewards(
    request: Request[Any, Any, Any],
    *,
    status: FromQuery[Status | None] = None,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    program_id: FromQuery[uuid.UUID | None] = None,
) -> Response[str]:
    async with read_only(request) as ctx:
        rows = await service.all_matching(
            ctx.session,
            ctx.workspace_id,
            _filters(status=status, promoter_id=promoter_id, program_id=program_id),
        )
        name = f"rewards-{status or 'all'}.csv"
        return Response(
            rewards_csv(rows),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


@get("/rewards/{reward_id:uuid}", tags=["rewards"], summary="Retrieve a reward")
async def get_reward(
    request: Request[Any, Any, Any], reward_id: FromPath[uuid.UUID]
) -> Response[RewardOut]:
    async with read_only(request) as ctx:
        return ctx.respond(
            RewardOut.of(await service.get(ctx.session, ctx.workspace_id, reward_id))
        )


@post(
    "/rewards/{reward_id:uuid}/approve",
    tags=["rewards"],
    status_code=200,
    summary="Approve a pending reward now",
    description="Approving an approved or paid reward changes nothing; a voided one is a 409.",
)
async def approve_reward(
    request: Request[Any, Any, Any], reward_id: FromPath[uuid.UUID]
) -> Response[RewardOut]:
    async with unit_of_work(request) as ctx:
        reward = await service.approve(
            ctx.session, ctx.workspace_id, reward_id, ctx.now, ctx.source
        )
        return ctx.respond(RewardOut.of(reward))


@post(
    "/rewards/{reward_id:uuid}/void",
    tags=["rewards"],
    status_code=200,
    summary="Void an unpaid reward, with a reason",
    description="Voiding a voided reward changes nothing; a paid one is a 409 (refund the "
    "purchase to claw it back).",
)
async def void_reward(
    request: Request[Any, Any, Any], reward_id: FromPath[uuid.UUID], data: JSONBody[VoidIn]
) -> Response[RewardOut]:
    async with unit_of_work(request) as ctx:
        reward = await service.void(
            ctx.session,
            ctx.workspace_id,
            reward_id,
            reason=data.reason,
            now=ctx.now,
            source=ctx.source,
        )
        return ctx.respond(RewardOut.of(reward))


routes = [list_rewards, export_rewards, get_reward, approve_reward, void_reward]
