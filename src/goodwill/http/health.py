"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from goodwill.db import Database
from goodwill.http.encoding import encode
from goodwill.migrate import current_revision, head_revision


@get("/healthz", opt={"auth": "public"}, tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", opt={"auth": "public"}, tags=["health"])
async def readyz(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The database answers and its schema is at the latest migration."""
    db: Database = request.app.state.db
    head = head_revision()
    try:
        current = await current_revision(db)
    except Exception as exc:  # any failure to reach the database means not ready
        failed = {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}
        return Response(encode(failed), status_code=503, media_type="application/json")
    ready = current == head
    body: dict[str, str | None] = {
        "status": "ok" if ready else "unavailable",
        "database": "ok",
        "schema_revision": current,
        "latest_revision": head,
    }
    return Response(encode(body), status_code=200 if ready else 503, media_type="application/json")
