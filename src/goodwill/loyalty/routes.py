from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.loyalty import queries, redemptions
from goodwill.loyalty.cards import ensure_card
from goodwill.loyalty.schemas import (
    CardOut,
    PointsEntryOut,
    QualifyingPurchaseOut,
    RedemptionCreate,
    RedemptionOut,
)
from goodwill.programs import service as programs

StampStatus = Literal["created", "redeemed", "voided", "unredeemed"]
EntryKind = Literal["earn", "redeem", "reverse", "expire", "refund"]
RedemptionStatus = Literal["completed", "reversed"]


@get(
    "/programs/{program_id:uuid}/cards/{customer_id:uuid}",
    tags=["loyalty"],
    summary="A customer's loyalty card: stamps or points, and what they can redeem now",
    description="The card (and its code) is made on first use, including this first look.",
)
async def get_card(
    request: Request[Any, Any, Any],
    program_id: FromPath[uuid.UUID],
    customer_id: FromPath[uuid.UUID],
) -> Response[CardOut]:
    async with read_only(request) as ctx:
        program, card = await queries.find_card(
            ctx.session, ctx.workspace_id, program_id, customer_id
        )
        if card is not None:
            return ctx.respond(await queries.card_out(ctx.session, program, card, ctx.now))
    async with unit_of_work(request) as ctx:
        program = await programs.get(ctx.session, ctx.workspace_id, program_id)
        card = await ensure_card(ctx.session, ctx.workspace_id, program_id, customer_id, ctx.now)
        return ctx.respond(await queries.card_out(ctx.session, program, card, ctx.now))


@get(
    "/loyalty-cards/{code:str}",
    tags=["loyalty"],
    summary="A loyalty card by its code",
)
async def get_card_by_code(
    request: Request[Any, Any, Any], code: FromPath[str]
) -> Response[CardOut]:
    async with read_only(request) as ctx:
        card = await queries.card_by_code(ctx.session, ctx.workspace_id, code)
        program = await programs.get(ctx.session, ctx.workspace_id, card.program_id)
        return ctx.respond(await queries.card_out(ctx.session, program, card, ctx.now))


@post(
    "/redemptions",
    tags=["loyalty"],
    status_code=201,
    summary="Spend a card's stamps or points (oldest first)",
    description=(
        "201 for a new redemption; 200 with the first answer when external_id was already "
        "redeemed with the same details; 409 when the balance is not enough (the message says "
        "the balance) or external_id was used with other details."
    ),
)
async def create_redemption(
    request: Request[Any, Any, Any], data: JSONBody[RedemptionCreate]
) -> Response[RedemptionOut]:
    async with unit_of_work(request) as ctx:
        redemption, created = await redemptions.redeem(
            ctx.session, ctx.workspace_id, data, ctx.now, ctx.source
        )
        return ctx.respond(RedemptionOut.of(redemption), 201 if created else 200)


@post(
    "/redemptions/{redemption_id:uuid}/reversal",
    tags=["loyalty"],
    status_code=200,
    summary="Reverse a redemption: its stamps or points become available again",
    description="A redemption is reversed at most once; a second reversal is a 409.",
)
async def reverse_redemption(
    request: Request[Any, Any, Any], redemption_id: FromPath[uuid.UUID]
) -> Response[RedemptionOut]:
    async with unit_of_work(request) as ctx:
        redemption = await redemptions.reverse(
            ctx.session, ctx.workspace_id, redemption_id, ctx.now, ctx.source
        )
        return ctx.respond(RedemptionOut.of(redemption))


@get("/redemptions/{redemption_id:uuid}", tags=["loyalty"], summary="Retrieve a redemption")
async def get_redemption(
    request: Request[Any, Any, Any], redemption_id: FromPath[uuid.UUID]
) -> Response[RedemptionOut]:
    async with read_only(request) as ctx:
        redemption = await redemptions.get(ctx.session, ctx.workspace_id, redemption_id)
        return ctx.respond(RedemptionOut.of(redemption))


@get("/redemptions", tags=["loyalty"], summary="List redemptions, newest first")
async def list_redemptions(
    request: Request[Any, Any, Any],
    *,
    program_id: FromQuery[uuid.UUID | None] = None,
    customer_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[RedemptionStatus | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[RedemptionOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await redemptions.list_(
            ctx.session,
            ctx.workspace_id,
            program_id=program_id,
            customer_id=customer_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([RedemptionOut.of(r) for r in rows], next_cursor))


@get(
    "/qualifying-purchases",
    tags=["loyalty"],
    summary="List stamps (qualifying purchases), newest first",
)
async def list_qualifying_purchases(
    request: Request[Any, Any, Any],
    *,
    program_id: FromQuery[uuid.UUID | None] = None,
    customer_id: FromQuery[uuid.UUID | None] = None,
    purchase_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[StampStatus | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[QualifyingPurchaseOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await queries.list_stamps(
            ctx.session,
            ctx.workspace_id,
            program_id=program_id,
            customer_id=customer_id,
            purchase_id=purchase_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([QualifyingPurchaseOut.of(q) for q in rows], next_cursor))


@get("/points-entries", tags=["loyalty"], summary="List points ledger entries, newest first")
async def list_points_entries(
    request: Request[Any, Any, Any],
    *,
    program_id: FromQuery[uuid.UUID | None] = None,
    customer_id: FromQuery[uuid.UUID | None] = None,
    kind: FromQuery[EntryKind | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[PointsEntryOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await queries.list_points(
            ctx.session,
            ctx.workspace_id,
            program_id=program_id,
            customer_id=customer_id,
            kind=kind,
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([PointsEntryOut.of(e, code) for e, code in rows], next_cursor))


routes = [
    get_card,
    get_card_by_code,
    create_redemption,
    reverse_redemption,
    get_redemption,
    list_redemptions,
    list_qualifying_purchases,
    list_points_entries,
]
