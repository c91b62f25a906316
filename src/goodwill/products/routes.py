from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.products import service
from goodwill.products.schemas import ProductCreate, ProductOut, ProductPatch


@post("/products", tags=["products"], status_code=201, summary="Create a product")
async def create_product(
    request: Request[Any, Any, Any], data: JSONBody[ProductCreate]
) -> Response[ProductOut]:
    async with unit_of_work(request) as ctx:
        product = await service.create(ctx.session, ctx.workspace_id, data, ctx.now)
        return ctx.respond(ProductOut.of(product), 201)


@get("/products/{product_id:uuid}", tags=["products"], summary="Retrieve a product")
async def get_product(
    request: Request[Any, Any, Any], product_id: FromPath[uuid.UUID]
) -> Response[ProductOut]:
    async with read_only(request) as ctx:
        return ctx.respond(
            ProductOut.of(await service.get(ctx.session, ctx.workspace_id, product_id))
        )


@patch("/products/{product_id:uuid}", tags=["products"], summary="Update a product")
async def patch_product(
    request: Request[Any, Any, Any], product_id: FromPath[uuid.UUID], data: JSONBody[ProductPatch]
) -> Response[ProductOut]:
    async with unit_of_work(request) as ctx:
        product = await service.patch(ctx.session, ctx.workspace_id, product_id, data, ctx.now)
        return ctx.respond(ProductOut.of(product))


@get("/products", tags=["products"], summary="List products, newest first")
async def list_products(
    request: Request[Any, Any, Any],
    sku: FromQuery[str | None] = None,
    active: FromQuery[bool | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[ProductOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session, ctx.workspace_id, sku=sku, active=active, limit=limit, cursor=cursor
        )
        return ctx.respond(page([ProductOut.of(p) for p in rows], next_cursor))


routes = [create_product, get_product, patch_product, list_products]
