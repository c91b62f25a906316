"""Requests per second of the referral hot paths, next to an in-process echo endpoint.

    .venv/bin/python scripts/bench_referrals.py [--requests 400] [--concurrency 1]
                                                [--database-url sqlite:///bench.db]

It runs the app in-process (httpx on the ASGI app, no network) on a scratch SQLite database
(or the migrated database you name), and prints, for each path, requests per second and the
ratio to the echo endpoint of the same method: ``GET /r/{code}`` (a click) against ``GET``
echo, ``POST /v1/purchases`` (ingest: a new customer, an attributed purchase, two rules)
against ``POST`` echo. It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from litestar import Request, Response, get, post

from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.http.app import create_app
from goodwill.migrate import upgrade
from goodwill.settings import Settings
from goodwill.workspaces import service as workspaces


@get("/bench/echo", opt={"auth": "public"}, include_in_schema=False)
async def echo_get(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(b"{}", media_type="application/json")


@post("/bench/echo", opt={"auth": "public"}, include_in_schema=False, status_code=200)
async def echo_post(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(await request.body(), media_type="application/json")


async def measure(
    name: str, requests: int, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> float:
    started = time.perf_counter()
    for batch in range(0, requests, concurrency):
        await asyncio.gather(*(call(i) for i in range(batch, min(batch + concurrency, requests))))
    rate = requests / (time.perf_counter() - started)
    print(f"{name:<24} {rate:9.1f} requests/s")
    return rate


async def run(settings: Settings, requests: int, concurrency: int) -> None:
    db = Database(settings)
    async with db.transaction() as session:
        workspace = await workspaces.create_workspace(session, "Bench", utcnow())
        key = await workspaces.create_secret_key(session, workspace.id, utcnow())
    app = create_app(settings, database=db, background=False, extra_routes=[echo_get, echo_post])
    headers = {"X-Api-Key": key.secret}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def call(method: str, path: str, body: Any = None, expect: int = 200) -> Any:
            r = await client.request(method, path, json=body, headers=headers)
            assert r.status_code == expect, r.text
            return (
                r.json()
                if r.headers.get("content-type", "").startswith("application/json")
                else None
            )

        program = await call(
            "POST",
            "/v1/programs",
            {
                "kind": "referral",
                "name": "Bench",
                "currency": "EUR",
                "settings": {"destination_url": "https://shop.example/"},
            },
            201,
        )
        for reward in ({"type": "percentage", "percent": "10"}, {"type": "fixed", "amount": "2"}):
            await call(
                "POST",
                f"/v1/programs/{program['id']}/rules",
                {"name": "r", "trigger": "purchase", "reward": reward},
                201,
            )
        promoter = await call(
            "POST", f"/v1/programs/{program['id']}/promoters", {"name": "Bench"}, 201
        )
        code = promoter["default_link"]["code"]
        run_id = uuid.uuid4().hex[:8]
        purchase = {"amount": "42.00", "currency": "EUR", "code": code}

        echo_get_rate = await measure(
            "GET echo", requests, concurrency, lambda i: call("GET", "/bench/echo")
        )
        click_rate = await measure(
            "GET /r/{code}",
            requests,
            concurrency,
            lambda i: call("GET", f"/r/{code}?utm_source=bench", expect=302),
        )
        echo_post_rate = await measure(
            "POST echo",
            requests,
            concurrency,
            lambda i: call("POST", "/bench/echo", {**purchase, "external_id": str(i)}),
        )
        purchase_rate = await measure(
            "POST /v1/purchases",
            requests,
            concurrency,
            lambda i: call(
                "POST",
                "/v1/purchases",
                {
                    **purchase,
                    "external_id": f"{run_id}-{i}",
                    "customer": {"source_id": f"{run_id}-{i}"},
                },
                201,
            ),
        )
    await db.dispose()
    print(f"clicks / GET echo        {click_rate / echo_get_rate:9.2f}")
    print(f"purchases / POST echo    {purchase_rate / echo_post_rate:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sqlite-synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        settings = Settings(
            database_url=url, log_level="warning", sqlite_synchronous=args.sqlite_synchronous
        )
        if args.database_url is None:
            upgrade(settings)
        asyncio.run(run(settings, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
