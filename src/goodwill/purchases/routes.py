from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.http.schema import Output
from goodwill.purchases import refunds, service
from goodwill.purchases.schemas import PurchaseCreate, PurchaseOut, RefundCreate, RefundOut
from goodwill.purchases.service import RecordedPurchase
from goodwill.rewards.schemas import RewardOut


def purchase_out(recorded: RecordedPurchase) -> PurchaseOut:
    return PurchaseOut.of(
        recorded.purchase,
        [RewardOut.of(r) for r in recorded.rewards],
        recorded.refunds,
        recorded.rule_sets,
    )


class RefundAnswer(Output):
    refund: RefundOut
    purchase: PurchaseOut


@post(
    "/purchases",
    tags=["purchases"],
    status_code=201,
    summary="Record a purchase",
    description="201 with the purchase, the rewards it created and the explanation of every "
    "rule. external_id is unique in the workspace: the same body again answers 200 with the "
    "first result and creates nothing; another body with it is a 409.",
)
async def create_purchase(
    request: Request[Any, Any, Any], data: JSONBody[PurchaseCreate]
) -> Response[PurchaseOut]:
    try:
        return await _record(request, data)
    except Exception as exc:
        if not service.lost_a_race(exc):
            raise
    # A concurrent request recorded this external_id (or referred this customer) and
    # committed after this one looked: nothing of this attempt was written. Again, it sees
    # that request's rows and answers as its replay.
    return await _record(request, data)


async def _record(request: Request[Any, Any, Any], data: PurchaseCreate) -> Response[PurchaseOut]:
    async with unit_of_work(request) as ctx:
        recorded = await service.record(
            ctx.session,
            ctx.workspace_id,
            data,
            now=ctx.now,
            source=ctx.source,
            event_type_prefix=ctx.principal.event_type_prefix,
            config_version=ctx.principal.config_version,
        )
        return ctx.respond(purchase_out(recorded), 201 if recorded.created else 200)


@get("/purchases/{purchase_id:uuid}", tags=["purchases"], summary="Retrieve a purchase")
async def get_purchase(
    request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID]
) -> Response[PurchaseOut]:
    async with read_only(request) as ctx:
        return ctx.respond(
            purchase_out(await service.get(ctx.session, ctx.workspace_id, purchase_id))
        )


@get("/purchases", tags=["purchases"], summary="List purchases, newest first")
async def list_purchases(
    request: Request[Any, Any, Any],
    *,
    customer_id: FromQuery[uuid.UUID | None] = None,
    promoter_id: FromQuery[uuid.UUID | None] = None,
    program_id: FromQuery[uuid.UUID | None] = None,
    external_id: FromQuery[str | None] = None,
    status: FromQuery[Literal["completed", "partially_refunded", "refunded"] | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[PurchaseOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session,
            ctx.workspace_id,
            filters={
                "customer_id": customer_id,
                "promoter_id": promoter_id,
                "program_id": program_id,
                "external_id": external_id,
                "status": status,
            },
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([purchase_out(r) for r in rows], next_cursor))


@post(
    "/purchases/{purchase_id:uuid}/refunds",
    tags=["purchases"],
    status_code=201,
    summary="Refund a purchase, in full or in part",
    description="amount defaults to what remains. In full: the rewards it caused that are "
    "not paid are voided; in part: they are reversed in proportion. A paid reward gets a "
    "negative clawback, netted against the next payout. More than remains is refused.",
)
async def create_refund(
    request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID], data: JSONBody[RefundCreate]
) -> Response[RefundAnswer]:
    async with unit_of_work(request) as ctx:
        refund, purchase, created = await refunds.refund(
            ctx.session, ctx.workspace_id, purchase_id, data, now=ctx.now, source=ctx.source
        )
        recorded = await service.load(ctx.session, ctx.workspace_id, purchase)
        answer = RefundAnswer(
            refund=RefundOut.of(refund, purchase), purchase=purchase_out(recorded)
        )
        return ctx.respond(answer, 201 if created else 200)


routes = [create_purchase, get_purchase, list_purchases, create_refund]
