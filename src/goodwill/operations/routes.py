"""Seed 002's action endpoint, mounted at ``/v1/operations`` and at
``/functions/v1/openapi-operations``. Errors keep the seed's shape, ``{"error": "<message>"}``,
and a missing or wrong key is a 401 ``Invalid API key``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post
from litestar.handlers import HTTPRouteHandler

from goodwill.http.context import unit_of_work
from goodwill.operations import service

OPTIONS = {"error_shape": "simple", "unauthorized_message": "Invalid API key"}
DESCRIPTION = (
    'Body: {"action": "create_purchase", "lead_id": "<customer id>", "product_id": "<product '
    'id>", "purchase_amount": 12500, "date": "2025-04-01T00:00:00.000Z", "description": '
    '"..."}. Answers {"purchase": {"id", "created_at", "leads_id", "products_id", '
    '"purchase_amount", "date", "description"}}. Errors: 400 "lead_id required", 401 '
    '"Invalid API key", 403 "Lead not accessible", 403 "Product not found or not owned by '
    'your company".'
)


def operations_handler(path: str) -> HTTPRouteHandler:
    @post(
        path,
        tags=["operations"],
        status_code=200,
        summary="Run an action (seed 002): create_purchase",
        description=DESCRIPTION,
        opt=OPTIONS,
    )
    async def run_operation(request: Request[Any, Any, Any]) -> Response[Any]:
        raw = service.parse_body(await request.body())
        service.action_of(raw)
        parsed = service.parse_create_purchase(raw)
        async with unit_of_work(request) as ctx:
            answer = await service.create_purchase(
                ctx.session,
                ctx.workspace_id,
                parsed,
                now=ctx.now,
                source=ctx.source,
                event_type_prefix=ctx.principal.event_type_prefix,
            )
            return ctx.respond(answer, 200)

    return run_operation


routes = [operations_handler("/operations")]
functions_router = Router(
    "/functions/v1",
    route_handlers=[operations_handler("/openapi-operations")],
    opt={"auth": "secret"},
    security=[{"apiKey": []}],
)
