from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from httpx import AsyncClient

from goodwill.db import Database
from goodwill.models import metadata


async def test_health_and_readiness(client: AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"].startswith("req_")
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["schema_revision"] == ready.json()["latest_revision"]


async def test_request_id_is_echoed_when_sane(client: AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["x-request-id"].startswith("req_")


async def test_openapi_and_docs_are_served_without_a_cdn(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/customers" in spec["paths"]
    assert "/v1/products/{product_id}" in spec["paths"]
    page = await client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls
    for url in urls:
        assert url.startswith("/"), f"external asset {url}"
        if url.startswith("/docs/assets"):
            assert (await client.get(url)).status_code == 200, url
    assert "cdn" not in page.text.lower()


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(sync_conn):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
