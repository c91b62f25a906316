"""One transaction per request, owned here at the edge; services never commit.

    async with unit_of_work(request) as ctx:
        customer = await service.upsert(ctx.session, ctx.workspace_id, data, ctx.now)
        return ctx.respond(CustomerOut.of(customer), 201)

A POST that carries ``Idempotency-Key`` claims the key inside the same transaction and stores
its answer before the commit, so the write and the remembered answer are one atomic unit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import Clock
from goodwill.db import Database
from goodwill.errors import Unauthorized
from goodwill.http.encoding import encode
from goodwill.idempotency import service as idempotency
from goodwill.idempotency.service import StoredResponse, request_fingerprint
from goodwill.workspaces.service import Principal

T = TypeVar("T")

JSON = "application/json"


class Context:
    def __init__(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        principal: Principal,
        now: datetime,
    ) -> None:
        self.request = request
        self.session = session
        self.principal = principal
        self.now = now
        self.response: StoredResponse | None = None

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.principal.workspace_id

    @property
    def source(self) -> str:
        """What caused an event, as in seed 000: ``urn:POST:/purchases``."""
        path = self.request.url.path
        for prefix in ("/client/v1", "/v1"):
            if path.startswith(prefix + "/"):
                path = path[len(prefix) :]
                break
        return f"urn:{self.request.method}:{path}"

    def respond(
        self, body: T, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response[T]:
        encoded = encode(body)
        self.response = StoredResponse(status_code=status, body=encoded)
        return cast(
            "Response[T]",
            Response(content=encoded, status_code=status, media_type=JSON, headers=headers),
        )


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("goodwill_principal")
    if principal is None:
        raise Unauthorized("Missing API key")
    return cast(Principal, principal)


@asynccontextmanager
async def unit_of_work(
    request: Request[Any, Any, Any], *, write: bool = True
) -> AsyncIterator[Context]:
    principal = principal_of(request)
    db: Database = request.app.state.db
    clock: Clock = request.app.state.clock
    key = request.headers.get("idempotency-key") if request.method == "POST" else None
    async with db.transaction(write=write) as session:
        ctx = Context(request, session, principal, clock())
        if key is not None:
            idempotency.check_key(key)
            fingerprint = request_fingerprint(
                request.method, request.url.path, await request.body()
            )
            await idempotency.claim(session, principal.workspace_id, key, fingerprint, ctx.now)
        yield ctx
        if key is not None and ctx.response is not None:
            await idempotency.record(
                session, principal.workspace_id, key, ctx.response.status_code, ctx.response.body
            )


@asynccontextmanager
async def read_only(request: Request[Any, Any, Any]) -> AsyncIterator[Context]:
    async with unit_of_work(request, write=False) as ctx:
        yield ctx
