"""POST /client/v1/events (seed 003): client keys, origins, CORS, rate limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from httpx import AsyncClient
from litestar import Litestar
from litestar.routes import HTTPRoute

from goodwill.db import Database
from goodwill.http.app import create_app
from goodwill.settings import Settings
from goodwill.tracking.ratelimit import RateLimiter
from goodwill.workspaces import service as workspaces
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.tracking.test_events_api import SEED_REQUEST

ORIGIN = "https://shop.example"


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client_key(db: Database, tenant: Tenant, clock: FakeClock) -> dict[str, str]:
    async with db.transaction() as session:
        issued = await workspaces.create_client_key(
            session, tenant.workspace_id, [ORIGIN, "http://localhost:3000"], clock()
        )
    return {
        "X-Client-Application-Id": str(issued.key.application_id),
        "X-Client-Token": issued.secret,
    }


@pytest.fixture
async def client_from(app: Litestar) -> AsyncIterator[AsyncClient]:
    """The app as seen from another client address."""
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_seed_003_through_the_client_endpoint(
    client: AsyncClient, db: Database, tenant: Tenant, client_key: dict[str, str]
) -> None:
    headers = {
        **client_key,
        "Authorization": "Bearer <token>",  # the seed sends it too; the client pair decides
        "origin": ORIGIN,
    }
    r = await client.post("/client/v1/events", json=SEED_REQUEST, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["object", "type", "customer", "referral", "loyalty", "metadata"]
    assert body["object"] == "event"
    assert body["type"] == "user_subscribed"
    assert body["customer"]["source_id"] == "source_customer_event"
    assert body["customer"]["object"] == "customer"
    assert body["referral"] is None  # seed 003: "a null referral object"
    assert body["loyalty"] is None
    assert body["metadata"] == SEED_REQUEST["metadata"]
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["vary"] == "Origin"
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1

    # the same event from a server, answered in the same shape
    server = await client.post("/v1/events", json=SEED_REQUEST, headers=tenant.headers)
    assert server.json() == body
    assert "access-control-allow-origin" not in server.headers


async def test_keys_and_origins_are_checked(
    client: AsyncClient, db: Database, tenant: Tenant, client_key: dict[str, str], clock: FakeClock
) -> None:
    url = "/client/v1/events"
    cases = [
        ({**client_key}, 403, "origin"),  # no origin
        ({**client_key, "origin": "https://evil.example"}, 403, "origin"),
        ({**client_key, "origin": "https://shop.example.evil.example"}, 403, "origin"),
        ({**client_key, "origin": "null"}, 403, "origin"),
        ({**client_key, "X-Client-Token": "gw_ct_wrong", "origin": ORIGIN}, 401, None),
        (
            {"X-Client-Application-Id": client_key["X-Client-Application-Id"], "origin": ORIGIN},
            401,
            None,
        ),
        ({**tenant.headers, "origin": ORIGIN}, 403, None),  # a secret key
        ({"origin": ORIGIN}, 401, None),
    ]
    for headers, status, param in cases:
        r = await client.post(url, json=SEED_REQUEST, headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert error_of(r).get("param") == param, r.text
        assert "access-control-allow-origin" not in r.headers
    # an origin that differs only by the default port or case is the same origin
    r = await client.post(
        url, json=SEED_REQUEST, headers={**client_key, "origin": "https://SHOP.example:443"}
    )
    assert r.status_code == 200
    # errors after the origin check carry CORS headers, so the page can read them
    r = await client.post(url, json={"event": ""}, headers={**client_key, "origin": ORIGIN})
    assert r.status_code == 422
    assert r.headers["access-control-allow-origin"] == ORIGIN
    # a revoked key stops at once
    async with db.transaction() as session:
        keys = await workspaces.list_keys(session, tenant.workspace_id)
        client_row = next(k for k in keys if k.kind == "client")
        await workspaces.revoke_key(session, str(client_row.id), clock())
    r = await client.post(url, json=SEED_REQUEST, headers={**client_key, "origin": ORIGIN})
    assert r.status_code == 401
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1


async def test_cors_preflight_only_for_allowed_origins(
    client: AsyncClient, db: Database, clock: FakeClock, tenant: Tenant, client_key: dict[str, str]
) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-client-application-id,x-client-token",
    }
    r = await client.options(
        "/client/v1/events", headers={**preflight, "Origin": "http://localhost:3000"}
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert r.headers["access-control-allow-methods"] == "POST, OPTIONS"
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {
        "content-type",
        "authorization",
        "idempotency-key",
        "x-client-application-id",
        "x-client-token",
    } <= allowed
    assert r.headers["vary"] == "Origin"
    for origin in ("https://evil.example", "not an origin"):
        r = await client.options("/client/v1/events", headers={**preflight, "Origin": origin})
        assert r.status_code == 403, origin
        assert "access-control-allow-origin" not in r.headers
    # a secret key's workspace has no say: only client keys' origins count
    r = await client.options(
        "/client/v1/events", headers={**preflight, "Origin": "https://other.example"}
    )
    assert r.status_code == 403
    async with db.transaction() as session:
        await workspaces.create_client_key(
            session, tenant.workspace_id, ["https://other.example"], clock()
        )
    r = await client.options(
        "/client/v1/events", headers={**preflight, "Origin": "https://other.example"}
    )
    assert r.status_code == 204
    # a plain OPTIONS (not CORS) says what the path allows
    r = await client.options("/client/v1/events")
    assert r.status_code == 204
    assert r.headers["allow"] == "POST, OPTIONS"


async def test_rate_limit_per_key_and_address(
    app: Litestar,
    *,
    client: AsyncClient,
    client_from: AsyncClient,
    db: Database,
    tenant: Tenant,
    client_key: dict[str, str],
    clock: FakeClock,
) -> None:
    ticker = Ticker()
    app.state.client_limiter = RateLimiter(3, clock=ticker)
    headers = {**client_key, "origin": ORIGIN}
    url = "/client/v1/events"
    for _ in range(3):
        assert (await client.post(url, json=SEED_REQUEST, headers=headers)).status_code == 200
    r = await client.post(url, json=SEED_REQUEST, headers=headers)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "20"
    assert error_of(r)["code"] == "rate_limited"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 3
    # another address has its own bucket; so has another key
    assert (await client_from.post(url, json=SEED_REQUEST, headers=headers)).status_code == 200
    async with db.transaction() as session:
        other = await workspaces.create_client_key(session, tenant.workspace_id, [ORIGIN], clock())
    other_headers = {
        "X-Client-Application-Id": str(other.key.application_id),
        "X-Client-Token": other.secret,
        "origin": ORIGIN,
    }
    assert (await client.post(url, json=SEED_REQUEST, headers=other_headers)).status_code == 200
    # tokens come back at 3 a minute: one every 20 seconds
    ticker.now += 19.9
    r = await client.post(url, json=SEED_REQUEST, headers=headers)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    ticker.now += 0.1
    assert (await client.post(url, json=SEED_REQUEST, headers=headers)).status_code == 200
    # the secret API is not limited by it
    for _ in range(5):
        assert (
            await client.post("/v1/events", json=SEED_REQUEST, headers=tenant.headers)
        ).status_code == 200


async def test_the_limit_is_the_setting(
    settings: Settings, db: Database, clock: FakeClock, client_key: dict[str, str]
) -> None:
    app = create_app(
        msgspec.structs.replace(settings, client_rate_limit=2),
        clock=clock,
        database=db,
        background=False,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        statuses = [
            (
                await c.post(
                    "/client/v1/events", json=SEED_REQUEST, headers={**client_key, "origin": ORIGIN}
                )
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [200, 200, 429]
    assert (
        Settings.from_env({"GOODWILL_CLIENT_RATE_LIMIT": "0"}, env_file=None).client_rate_limit == 0
    )
    with pytest.raises(SystemExit, match="client_rate_limit"):
        Settings.from_env({"GOODWILL_CLIENT_RATE_LIMIT": "-1"}, env_file=None)


def test_the_token_bucket() -> None:
    ticker = Ticker()
    limiter = RateLimiter(120, clock=ticker, max_buckets=2)
    assert all(limiter.take("a") is None for _ in range(120))
    assert limiter.take("a") == 1  # 2 tokens a second
    ticker.now += 0.5
    assert limiter.take("a") is None
    assert limiter.take("b") is None
    assert limiter.take("c") is None  # "a" is forgotten (least recently used)
    assert all(limiter.take("a") is None for _ in range(120))
    assert RateLimiter(0).take("a") is None  # 0 turns the limit off


async def test_a_client_key_is_refused_on_every_other_route(
    app: Litestar, client: AsyncClient, client_key: dict[str, str]
) -> None:
    headers = {**client_key, "origin": ORIGIN, "Content-Type": "application/json"}
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/client/"):
            continue
        if not route.path.startswith("/v1"):
            continue
        path = re.sub(
            r"\{(\w+):(\w+)\}",
            lambda m: str(uuid.uuid4()) if m.group(2) == "uuid" else "x",
            route.path,
        )
        seed_002 = any(h.opt.get("error_shape") == "simple" for h in route.route_handlers)
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            r = await client.request(method, path, headers=headers, content=b"{}")
            if seed_002:
                # The seed 002 surface answers every request without a valid X-Api-Key alike.
                assert r.status_code == 401, (method, path, r.text)
                assert r.json() == {"error": "Invalid API key"}
            else:
                assert r.status_code == 403, (method, path, r.text)
                assert error_of(r)["code"] == "forbidden"
            checked += 1
    assert checked >= 25
