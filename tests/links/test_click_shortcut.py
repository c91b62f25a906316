"""The click shortcut (goodwill.links.public.Shortcut): plain ``GET /r/{code}`` requests skip
Litestar's router and handler machinery. Everything it answers must be what the route answers,
and everything it is unsure of must go to the route."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar._asgi.asgi_router import ASGIRouter
from litestar.config.cors import CORSConfig

from goodwill.db import Database
from goodwill.http.app import create_app
from goodwill.http.middleware import AuthMiddleware
from goodwill.links import clicks
from goodwill.links.public import Shortcut, follow_link
from goodwill.settings import Settings
from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of


@pytest.fixture
async def routed(
    settings: Settings, clock: FakeClock, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without the shortcut: every request through Litestar's router."""
    app = create_app(settings, clock=clock, database=db, background=False, click_shortcut=False)
    assert not isinstance(app.asgi_handler.app, Shortcut)  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def normalized(r: httpx.Response) -> tuple[Any, ...]:
    """An answer with what differs between any two requests (request id, click id) masked."""

    def mask(value: bytes) -> bytes:
        value = re.sub(rb"gw_click=[0-9a-f-]{36}", b"gw_click=<id>", value)
        return re.sub(rb"req_[0-9a-f]{32}", b"<request id>", value)

    return r.status_code, [(k, mask(v)) for k, v in r.headers.raw], mask(r.content)


async def test_the_shortcut_answers_as_the_route_does(
    client: httpx.AsyncClient, routed: httpx.AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program, utm_params={"utm_source": "ada"})
    code = code_of(ada)
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("GET", f"/r/{code}", {}),
        (
            "GET",
            f"/r/{code}?utm_campaign=spring&utm_source=a%20b&utm_source=second&other=1"
            "&utm_term=&utm_content=%E2%82%AC+x&utm_medium=%ZZ",
            {"Referer": "https://blog.example/p?x=1", "User-Agent": "Browser/1.0"},
        ),
        ("GET", f"/r/{code}?utm_source=a&utm_source=b;utm_medium=c", {}),
        ("GET", "/r/no-such-code", {}),
        ("GET", f"/r/{code}/", {}),  # not plain: Litestar's path normalization
        ("GET", "/r/a%20b", {}),
        ("GET", "/r/" + "x" * 65, {}),
        ("GET", f"/r/{code}?utm_source=%00", {}),  # the route's NUL check: a 422
        ("HEAD", f"/r/{code}", {}),
        ("POST", f"/r/{code}", {}),
        ("GET", f"/r/{code}", {"Host": "bad host"}),  # the router's Host check: a 400
    ]
    for method, url, headers in cases:
        shortcut = await client.request(method, url, headers=headers)
        route = await routed.request(method, url, headers=headers)
        assert normalized(shortcut) == normalized(route), (method, url)
        if shortcut.status_code == 302:
            assert shortcut.headers["location"].startswith("https://shop.example/welcome?ref=1&")


def test_what_the_shortcut_takes(app: Litestar) -> None:
    shortcut = app.asgi_handler.app  # type: ignore[attr-defined]
    assert isinstance(shortcut, Shortcut)

    def takes(**scope: Any) -> bool:
        full = {"type": "http", "method": "GET", "path": "/r/ada-1", "query_string": b""}
        full["headers"] = [(b"host", b"shop.example")]
        return shortcut.takes({**full, **scope})  # type: ignore[arg-type]

    assert takes()
    assert takes(query_string=b"utm_source=x&utm_medium=y")
    assert takes(headers=[])
    assert not takes(type="websocket")
    assert not takes(method="HEAD")
    assert not takes(root_path="/goodwill")
    assert not takes(path="/r/ada-1/")
    assert not takes(path="/r/")
    assert not takes(path="/r/ada 1")
    assert not takes(path="/r/ada\x001")
    assert not takes(path="/r/ada-1/more")
    assert not takes(path="/R/ada-1")
    assert not takes(query_string=b"utm_source=a\x00b")
    assert not takes(query_string=b"utm_source=a%00b")
    assert not takes(headers=[(b"host", b"bad host")])


async def test_plain_clicks_skip_the_router_and_the_rest_do_not(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = Kit(client, tenant)
    code = code_of(await kit.promoter(await kit.program()))
    routed: list[str] = []
    real = ASGIRouter.__call__

    async def counting(self: ASGIRouter, scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await real(self, scope, receive, send)

    monkeypatch.setattr(ASGIRouter, "__call__", counting)
    assert (await client.get(f"/r/{code}?utm_source=x")).status_code == 302
    assert (await client.get("/r/unknown-code")).status_code == 404
    assert routed == []
    assert (await client.get(f"/r/{code}/")).status_code == 302
    assert (await client.get(f"/r/{code}?utm_source=%00")).status_code == 422
    assert routed == [f"/r/{code}/", f"/r/{code}"]


async def test_an_error_is_answered_as_the_route_answers_it(
    client: httpx.AsyncClient,
    routed: httpx.AsyncClient,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kit = Kit(client, tenant)
    code = code_of(await kit.promoter(await kit.program()))

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(clicks, "follow", broken)
    shortcut = await client.get(f"/r/{code}")
    route = await routed.get(f"/r/{code}")
    assert shortcut.status_code == 500
    assert normalized(shortcut) == normalized(route)
    assert shortcut.json()["error"]["code"] == "internal_error"


def test_a_route_with_anything_around_it_is_left_to_litestar() -> None:
    def shortcut_of(**config: Any) -> bool:
        config.setdefault("middleware", [AuthMiddleware()])
        config.setdefault("route_handlers", [follow_link])
        app = Litestar(**config)
        return isinstance(Shortcut.of(app.asgi_handler, app), Shortcut)

    @get("/r/{code:str}", opt={"auth": "public"})
    async def impostor() -> None:
        return None

    async def guard(*args: Any) -> None:
        return None

    async def hook(*args: Any) -> None:
        return None

    class Other(AuthMiddleware):
        pass

    assert shortcut_of()
    assert not shortcut_of(guards=[guard])
    assert not shortcut_of(before_request=hook)
    assert not shortcut_of(after_request=hook)
    assert not shortcut_of(after_response=hook)
    assert not shortcut_of(middleware=[AuthMiddleware(), Other()])
    assert not shortcut_of(middleware=[])
    assert not shortcut_of(cors_config=CORSConfig(allow_origins=["https://shop.example"]))
    assert not shortcut_of(route_handlers=[impostor])  # another handler on the path
