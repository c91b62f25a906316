"""``GET /r/{code}``: the public redirect through a referral link (no key)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from litestar import Litestar, Request, get
from litestar._asgi.utils import is_valid_host  # the router's own check of Host
from litestar.datastructures import Headers, ResponseHeader, State
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware._internal.exceptions import ExceptionHandlerMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from goodwill.clock import Clock
from goodwill.links import clicks
from goodwill.settings import Settings

NOT_FOUND_PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8><title>Not found</title></head>"
    b"<body><h1>Not found</h1><p>This link does not exist.</p></body></html>"
)


async def _salt(state: State) -> str:
    salt: str | None = state.get("ip_hash_salt")
    if salt is None:
        settings: Settings = state.settings
        clock: Clock = state.clock
        salt = await clicks.install_salt(state.db, settings.ip_hash_salt, clock())
        state.ip_hash_salt = salt
    return salt


class Answer:
    """An answer given straight to the server, headers and all: the exact bytes Litestar's
    ``Response`` sends for these two (a 302 with ``Location`` and an empty ``text/plain`` body,
    the 404 page) without building one, which costs 8-10 µs a click. Litestar's ``before_send``
    hooks still apply: the answer carries its ``X-Request-Id``."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def found(location: str) -> Answer:
    return Answer(
        302,
        [
            (b"location", location.encode("latin-1")),
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"0"),
        ],
        b"",
    )


def not_found() -> Answer:
    return Answer(
        404,
        [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(NOT_FOUND_PAGE)).encode()),
        ],
        NOT_FOUND_PAGE,
    )


@get(
    "/r/{code:str}",  # ROUTE
    opt={"auth": "public"},
    tags=["links"],
    summary="Follow a referral link",
    description="Records a click (UTM parameters from the query over the link's defaults, "
    "referrer, user agent, a salted hash of the IP) and answers 302 to the destination with "
    "the UTM parameters and gw_click (the click id) added. An unknown code is a plain 404.",
    status_code=302,
    response_headers=[
        ResponseHeader(
            name="Location",
            description="The destination, with the UTM parameters and gw_click added",
            documentation_only=True,
        )
    ],
)
async def follow_link(request: Request[Any, Any, Any]) -> ASGIApp:
    return await answer(request.scope)


async def answer(scope: Scope) -> Answer:
    """The click through the request's code and its answer: the route above and
    :class:`Shortcut` both answer with this. What it reads of the request, it reads as
    Litestar's ``Request`` would: the query as ``Request.query_params`` parses it, the headers
    through the scope's ``Headers``, the client's address."""
    code: str = scope["path_params"]["code"]
    state: State = scope["litestar_app"].state
    clock: Clock = state.clock
    headers = Headers.from_scope(scope)
    client = scope.get("client")
    visit = clicks.Visit(
        utm=clicks.utm_from_query(_query(scope)),
        referrer=headers.get("referer"),
        user_agent=headers.get("user-agent"),
        ip=None if client is None else client[0],
    )
    location = await clicks.follow(
        state.db,
        code,
        visit,
        salt=await _salt(state),
        now=clock(),
        source=f"urn:GET:/r/{code}",
    )
    return not_found() if location is None else found(location)


def _query(scope: Scope) -> list[tuple[str, str]]:
    """The query's pairs, in order, exactly as Litestar's ``Request.query_params`` has them."""
    query: bytes = scope.get("query_string", b"")
    return parse_qsl(query.decode("latin-1"), keep_blank_values=True, separator="&")


ROUTE = "/r/{code:str}"
_PLAIN_PATH = re.compile(r"/r/[A-Za-z0-9_-]{1,64}")  # what a code can be (LinkCreate.code)


class Shortcut:
    """``GET /r/{code}`` without Litestar's router and handler machinery, which cost 20-35 µs of
    CPU a click, as much as the click's own work: the requests that would reach :func:`follow_link`
    unchanged are answered by the same :func:`answer`, with everything the route would have
    set in the scope, inside Litestar's own exception handling (so errors are the same
    envelopes); Litestar's ``before_send`` hooks (``X-Request-Id``) and the access log wrap both.

    It only takes a request the route would: ``GET``, no ``root_path``, the path exactly
    ``/r/<code>`` with a code's characters, a valid ``Host``, no NUL in the query (which the
    route's middleware answers with a 422). Everything else, including any request it is unsure
    of, goes to Litestar. :meth:`of` only builds one if the route has nothing else around it: no
    guards, hooks, cache or other middleware than :class:`AuthMiddleware` on a public route, no
    CORS or tracing; a route that gains any of them is routed by Litestar again, silently.
    """

    def __init__(self, app: ASGIApp, handler: HTTPRouteHandler) -> None:
        self.app = app
        self._handler = handler
        self._exception_handlers = handler.resolve_exception_handlers()

    @classmethod
    def of(cls, app: ASGIApp, litestar: Litestar) -> ASGIApp:
        """``app`` with the shortcut in front of it, or ``app`` alone if the route is not plain."""
        from goodwill.http.middleware import AuthMiddleware

        found_handlers = [
            route.route_handler_map["GET"][0]
            for route in litestar.routes
            if isinstance(route, HTTPRoute)
            and route.path == ROUTE
            and "GET" in route.route_handler_map
        ]
        if len(found_handlers) != 1:
            return app
        handler = found_handlers[0]
        plain = (
            handler.fn is follow_link.fn
            and handler.opt.get("auth") == "public"
            and not handler.resolve_guards()
            and handler.resolve_before_request() is None
            and handler.resolve_after_response() is None
            and not any(layer.after_request for layer in handler.ownership_layers)
            and not handler.cache
            and [type(m) for m in handler.resolve_middleware()] == [AuthMiddleware]
            # Litestar's own chain is its router in its exception handling: no CORS, no tracing
            and type(app) is ExceptionHandlerMiddleware
        )
        return cls(app, handler) if plain else app

    def takes(self, scope: Scope) -> bool:
        if (
            scope["type"] != ScopeType.HTTP
            or scope.get("method") != "GET"
            or scope.get("root_path")
        ):
            return False
        if not _PLAIN_PATH.fullmatch(scope["path"]):
            return False
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            return False
        host = next((value for name, value in scope["headers"] if name == b"host"), None)
        return host is None or is_valid_host(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.takes(scope):
            await self.app(scope, receive, send)
            return
        # What Litestar's router sets for the route.
        scope["path_params"] = {"code": scope["path"][3:]}
        scope["route_handler"] = self._handler
        scope["path_template"] = ROUTE
        ScopeState.from_scope(scope).exception_handlers = self._exception_handlers
        try:
            reply = await answer(scope)
        except Exception as error:  # nothing sent yet: Litestar's exception handling answers
            await ExceptionHandlerMiddleware(app=_Raising(error), debug=None)(scope, receive, send)
            return
        await reply(scope, receive, send)


class _Raising:
    """An ASGI app that raises ``error``: hands an error to Litestar's exception handling."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise self.error
