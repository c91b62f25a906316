"""``GET /r/{code}``: the public redirect through a referral link (no key)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath

from goodwill.clock import Clock
from goodwill.db import Database
from goodwill.links import clicks
from goodwill.settings import Settings

NOT_FOUND_PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8><title>Not found</title></head>"
    b"<body><h1>Not found</h1><p>This link does not exist.</p></body></html>"
)


async def _salt(request: Request[Any, Any, Any]) -> str:
    state = request.app.state
    salt: str | None = state.get("ip_hash_salt")
    if salt is None:
        settings: Settings = state.settings
        clock: Clock = state.clock
        salt = await clicks.install_salt(state.db, settings.ip_hash_salt, clock())
        state.ip_hash_salt = salt
    return salt


@get(
    "/r/{code:str}",
    opt={"auth": "public"},
    tags=["links"],
    summary="Follow a referral link",
    description="Records a click (UTM parameters from the query over the link's defaults, "
    "referrer, user agent, a salted hash of the IP) and answers 302 to the destination with "
    "the UTM parameters and gw_click (the click id) added. An unknown code is a plain 404.",
    status_code=302,
)
async def follow_link(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[bytes]:
    db: Database = request.app.state.db
    clock: Clock = request.app.state.clock
    visit = clicks.Visit(
        utm=clicks.utm_from_query(request.query_params.multi_items()),
        referrer=request.headers.get("referer"),
        user_agent=request.headers.get("user-agent"),
        ip=None if request.client is None else request.client.host,
    )
    location = await clicks.follow(
        db,
        code,
        visit,
        salt=await _salt(request),
        now=clock(),
        source=f"urn:GET:/r/{code}",
    )
    if location is None:
        # Litestar adds "; charset=utf-8" to a text/* media type itself.
        return Response(NOT_FOUND_PAGE, status_code=404, media_type="text/html")
    return Response(b"", status_code=302, headers={"Location": location}, media_type="text/plain")
