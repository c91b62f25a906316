from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.payouts import service
from goodwill.payouts.schemas import PayoutCreate, PayoutOut, PayoutRun
from goodwill.rewards.export import payout_csv


@post(
    "/payouts",
    tags=["payouts"],
    status_code=201,
    summary="Pay approved rewards: one promoter, one customer, or a program's promoters",
    description="Each account is paid its approved rewards net of its clawback outstanding, "
    "when that is more than 0 and at least minimum. 201 when something was paid, else 200; "
    "skipped lists who was left out and why.",
)
async def create_payouts(
    request: Request[Any, Any, Any], data: JSONBody[PayoutCreate]
) -> Response[PayoutRun]:
    async with unit_of_work(request) as ctx:
        paid, skipped = await service.create(
            ctx.session, ctx.workspace_id, data, ctx.now, ctx.source
        )
        run = PayoutRun(data=[PayoutOut.of(p) for p in paid], skipped=skipped)
        return ctx.respond(run, 201 if paid else 200)


@get("/payouts/{payout_id:uuid}", tags=["payouts"], summary="Retrieve a payout")
async def get_payout(
    request: Request[Any, Any, Any], payout_id: FromPath[uuid.UUID]
) -> Response[PayoutOut]:
    async with read_only(request) as ctx:
        return ctx.respond(
            PayoutOut.of(await service.get(ctx.session, ctx.workspace_id, payout_id))
        )


@get(
    "/payouts/{payout_id:uuid}/export",
    tags=["payouts"],
    summary="Export a payout as CSV: its rewards, the clawback netted, the total",
    media_type="text/csv; charset=utf-8",
)
async def export_payout(
    request: Request[Any, Any, Any], payout_id: FromPath[uuid.UUID]
) -> Response[str]:
    async with read_only(request) as ctx:
        payout = await service.get(ctx.session, ctx.workspace_id, payout_id)
        rewards = await service.rewards_of(ctx.session, ctx.workspace_id, payout.id)
        return Response(
            payout_csv(payout, rewards),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="payout-{payout.id}.csv"'},
        )


@get("/payouts", tags=["payouts"], summary="List payouts, newest first")
async def list_payouts(
    request: Request[Any, Any, Any],
    *,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    customer_id: FromQuery[uuid.UUID | None] = None,
    program_id: FromQuery[uuid.UUID | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[PayoutOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session,
            ctx.workspace_id,
            filters={
                "promoter_id": promoter_id,
                "customer_id": customer_id,
                "program_id": program_id,
            },
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([PayoutOut.of(p) for p in rows], next_cursor))


routes = [create_payouts, get_payout, export_payout, list_payouts]
