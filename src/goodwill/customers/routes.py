from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.customers import service
from goodwill.customers.schemas import CustomerOut, CustomerPatch, CustomerUpsert
from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page


@post(
    "/customers",
    tags=["customers"],
    status_code=201,
    summary="Create or update a customer by source_id",
    description="201 when the customer is new, 200 when it existed (the fields given are updated).",
)
async def upsert_customer(
    request: Request[Any, Any, Any], data: JSONBody[CustomerUpsert]
) -> Response[CustomerOut]:
    async with unit_of_work(request) as ctx:
        customer, created = await service.upsert(
            ctx.session, ctx.workspace_id, data, ctx.now, ctx.source
        )
        return ctx.respond(CustomerOut.of(customer), 201 if created else 200)


@get("/customers/{customer_id:uuid}", tags=["customers"], summary="Retrieve a customer")
async def get_customer(
    request: Request[Any, Any, Any], customer_id: FromPath[uuid.UUID]
) -> Response[CustomerOut]:
    async with read_only(request) as ctx:
        customer = await service.get(ctx.session, ctx.workspace_id, customer_id)
        return ctx.respond(CustomerOut.of(customer))


@patch("/customers/{customer_id:uuid}", tags=["customers"], summary="Update a customer")
async def patch_customer(
    request: Request[Any, Any, Any], customer_id: FromPath[uuid.UUID], data: JSONBody[CustomerPatch]
) -> Response[CustomerOut]:
    async with unit_of_work(request) as ctx:
        customer = await service.patch(ctx.session, ctx.workspace_id, customer_id, data, ctx.now)
        return ctx.respond(CustomerOut.of(customer))


@get("/customers", tags=["customers"], summary="List customers, newest first")
async def list_customers(
    request: Request[Any, Any, Any],
    source_id: FromQuery[str | None] = None,
    email: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[CustomerOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session,
            ctx.workspace_id,
            source_id=source_id,
            email=email,
            limit=limit,
            cursor=cursor,
        )
        return ctx.respond(page([CustomerOut.of(c) for c in rows], next_cursor))


routes = [upsert_customer, get_customer, patch_customer, list_customers]
