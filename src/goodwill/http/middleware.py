"""Request ids, access logs, authentication and the body and parameter guards, as ASGI middleware.

Each route says how it authenticates through its ``opt["auth"]``, inherited from its router:
``"secret"`` (``X-Api-Key`` or ``Authorization: Bearer``), ``"client"`` (``X-Client-Application-Id``
and ``X-Client-Token``) or ``"public"``. ``opt["unauthorized_message"]``, when set, is the
message of every 401/403 key failure on that route (a compatible surface's own wording).
"""

from __future__ import annotations

import re
import time
from typing import cast
from urllib.parse import parse_qsl

import structlog
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from goodwill.db import Database
from goodwill.errors import (
    FieldError,
    Forbidden,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from goodwill.ids import new_id
from goodwill.workspaces.service import Principal, authenticate

access_log = structlog.get_logger("goodwill.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def ensure_request_id(scope: Scope) -> str:
    """The request's id: a sane incoming ``X-Request-Id``, else a new one, kept in the scope."""
    rid = cast("str | None", scope.get("goodwill_request_id"))
    if rid is None:
        incoming = Headers.from_scope(scope).get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else f"req_{new_id().hex}"
        scope["goodwill_request_id"] = rid  # type: ignore[typeddict-unknown-key]
    return rid


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every answer carries its request id, routed or not (404, 405)."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", []))
        headers.append((b"x-request-id", ensure_request_id(scope).encode()))
        message["headers"] = headers


class AccessLog:
    """Wraps the whole app (``app.asgi_handler``), so that every HTTP request, routed or not (a
    404 or 405 from the router), binds its request id to the logs and writes one access-log line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        rid = ensure_request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture_status)
        finally:
            principal = cast("Principal | None", scope.get("goodwill_principal"))
            access_log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                key=principal.key_prefix if principal else None,
            )
            structlog.contextvars.unbind_contextvars("request_id")


class AuthMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        opt = scope["route_handler"].opt
        mode = opt.get("auth", "public")
        if mode != "public" and scope.get("method") != "OPTIONS":
            db: Database = scope["litestar_app"].state.db
            headers = Headers.from_scope(scope)
            try:
                principal = await _authenticate(db, headers, mode)
            except (Unauthorized, Forbidden) as exc:
                # A compatible surface may answer every key failure with its own 401 message
                # (seed 002: "Invalid API key").
                message = opt.get("unauthorized_message")
                if message is None:
                    raise
                raise Unauthorized(message) from exc
            scope["goodwill_principal"] = principal  # type: ignore[typeddict-unknown-key]
        if nul_errors := _nul_parameters(scope):
            raise ValidationFailed(nul_errors)
        if scope.get("method") in _BODY_METHODS and scope["route_handler"].parsed_data_field:
            content_type = Headers.from_scope(scope).get("content-type", "")
            media = content_type.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise UnsupportedMediaType(
                    f"Send the body as JSON with Content-Type: application/json "
                    f"(got {content_type or 'no Content-Type'})"
                )
        await next_app(scope, receive, send)


def _nul_parameters(scope: Scope) -> list[FieldError]:
    """Query and path parameters holding a NUL character: no stored string can contain one, and
    PostgreSQL refuses them in text, so they are a 422 here rather than an error deep down."""
    errors: list[FieldError] = []
    if "\x00" in scope.get("path", ""):
        errors.extend(
            FieldError(name, "invalid", "must not contain NUL characters")
            for name, value in scope.get("path_params", {}).items()
            if isinstance(value, str) and "\x00" in value
        )
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        errors.extend(
            FieldError(key, "invalid", "must not contain NUL characters")
            for key, value in pairs
            if "\x00" in key or "\x00" in value
        )
    return errors


def _secret_from(headers: Headers) -> str | None:
    if value := headers.get("x-api-key"):
        return value.strip()
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def _authenticate(db: Database, headers: Headers, mode: str) -> Principal:
    async with db.statements() as sql:
        if mode == "secret":
            secret = _secret_from(headers)
            if secret is None:
                if headers.get("x-client-token"):
                    raise Forbidden("Client keys can only call the /client/v1 endpoints")
                raise Unauthorized(
                    "Missing API key: send it as X-Api-Key or Authorization: Bearer <key>"
                )
            principal = await authenticate(sql, secret, kind="secret")
            if principal is None:
                raise Unauthorized("Invalid API key")
            return principal
        app_id = headers.get("x-client-application-id")
        token = headers.get("x-client-token")
        if not app_id or not token:
            if _secret_from(headers):
                raise Forbidden("Secret keys are not accepted here; use a client key pair")
            raise Unauthorized(
                "Missing client key: send X-Client-Application-Id and X-Client-Token"
            )
        principal = await authenticate(sql, token, kind="client", application_id=app_id)
        if principal is None:
            raise Unauthorized("Invalid client key")
        return principal
