"""The client endpoints under ``/client/v1``: for browsers and apps, with a client key pair.

Every request needs ``X-Client-Application-Id`` and ``X-Client-Token`` (checked by the auth
middleware) and an ``Origin`` that is one of the key's allowed origins (else 403). Requests are
rate limited per key and client address (``GOODWILL_CLIENT_RATE_LIMIT`` per minute, 429 with
``Retry-After`` beyond it). CORS: a preflight (``OPTIONS``) is answered for origins some active
client key allows, and every answer to an allowed origin carries
``Access-Control-Allow-Origin`` with that origin.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post, route
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.enums import HttpMethod, ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.params import JSONBody
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from goodwill.db import Database
from goodwill.errors import Forbidden, RateLimited, ValidationFailed
from goodwill.http.context import principal_of, unit_of_work
from goodwill.tracking import service
from goodwill.tracking.ratelimit import RateLimiter
from goodwill.tracking.schemas import EventIn, EventOut
from goodwill.workspaces.service import Principal, normalize_origin, origin_allowed

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = (
    "Content-Type, Authorization, Idempotency-Key, X-Client-Application-Id, X-Client-Token, "
    "X-Request-Id"
)
EXPOSED_HEADERS = "Retry-After, X-Request-Id, Idempotent-Replayed"
PREFLIGHT_MAX_AGE = "600"


def _origin(headers: Headers) -> str:
    """The request's origin, normalized; 403 when it is missing or not an origin."""
    raw = headers.get("origin")
    if not raw:
        raise Forbidden("Client keys need the Origin header (your site's origin)", param="origin")
    try:
        return normalize_origin(raw)
    except ValidationFailed:
        raise Forbidden(
            f"{raw!r} is not an origin like https://shop.example", param="origin"
        ) from None


def check_origin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the Origin must be one of the client key's allowed origins."""
    if connection.scope.get("method") == "OPTIONS":
        return
    principal: Principal = principal_of(connection)  # type: ignore[arg-type]
    origin = _origin(connection.headers)
    if origin not in principal.allowed_origins:
        raise Forbidden(f"Origin {origin} is not allowed for this client key", param="origin")


def rate_limit(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a token per request from the (key, client address) bucket."""
    if connection.scope.get("method") == "OPTIONS":
        return
    principal: Principal = principal_of(connection)  # type: ignore[arg-type]
    limiter: RateLimiter = connection.app.state.client_limiter
    address = connection.client.host if connection.client else "unknown"
    wait = limiter.take((principal.key_id, address))
    if wait is not None:
        raise RateLimited(
            f"Too many requests for this client key from {address}: the limit is "
            f"{int(limiter.capacity)} a minute; retry in {wait} s",
            retry_after=wait,
        )


class ClientCorsMiddleware(ASGIMiddleware):
    """Adds ``Access-Control-Allow-Origin`` to answers for an origin the caller's key allows,
    errors included, so that the browser lets the page read them."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("method") != "OPTIONS":
                principal: Principal | None = scope.get("goodwill_principal")  # type: ignore[assignment]
                raw = Headers.from_scope(scope).get("origin")
                if principal is not None and raw:
                    try:
                        origin = normalize_origin(raw)
                    except ValidationFailed:
                        origin = None
                    if origin in principal.allowed_origins:
                        headers = list(message.get("headers", []))
                        headers += [
                            (b"access-control-allow-origin", raw.encode("latin-1")),
                            (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                            (b"vary", b"Origin"),
                        ]
                        message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_cors)


@route(
    "/events",
    http_method=[HttpMethod.OPTIONS],
    opt={"auth": "public"},
    include_in_schema=False,
)
async def preflight_events(request: Request[Any, Any, Any]) -> Response[bytes]:
    if not request.headers.get("origin"):  # not CORS: a plain OPTIONS
        return Response(b"", status_code=204, headers={"Allow": ALLOWED_METHODS})
    origin = _origin(request.headers)
    db: Database = request.app.state.db
    async with db.transaction(write=False) as session:
        allowed = await origin_allowed(session, origin)
    if not allowed:
        raise Forbidden(f"Origin {origin} is not allowed by any client key", param="origin")
    return Response(
        b"",
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": request.headers["origin"],
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        },
    )


@post(
    "/events",
    tags=["client"],
    status_code=200,
    summary="Track a custom event from a browser or app (seed 003)",
    description=(
        "Needs X-Client-Application-Id, X-Client-Token and an allowed Origin. The body and the "
        "answer are those of POST /v1/events."
    ),
)
async def client_track_event(
    request: Request[Any, Any, Any], data: JSONBody[EventIn]
) -> Response[EventOut]:
    async with unit_of_work(request) as ctx:
        out = await service.track(
            ctx.session,
            ctx.workspace_id,
            data,
            require_schema=bool(ctx.principal.workspace_settings.get("events_require_schema")),
            channel="client",
            now=ctx.now,
            source=ctx.source,
        )
        return ctx.respond(out)


def client_router() -> Router:
    # The OPTIONS handler goes first: registered after POST, Litestar's automatic one would win.
    return Router(
        "/client/v1",
        route_handlers=[preflight_events, client_track_event],
        opt={"auth": "client"},
        guards=[check_origin, rate_limit],
        middleware=[ClientCorsMiddleware()],
        security=[{"clientApplicationId": [], "clientToken": []}],
    )
