from __future__ import annotations

import asyncio
from datetime import timedelta

from httpx import AsyncClient

from goodwill.idempotency.service import purge
from goodwill.maintenance import run_once
from goodwill.settings import Settings
from tests.conftest import FakeClock, Tenant, count_rows, error_of


async def test_same_key_same_body_replays_the_first_answer(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "k-1"}
    body = {"sku": "mug", "name": "Mug", "price": "3", "currency": "EUR"}
    first = await client.post("/v1/products", json=body, headers=headers)
    second = await client.post("/v1/products", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_rows(db, "products", tenant.workspace_id) == 1


async def test_same_key_different_body_is_409_and_changes_nothing(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "k-2"}
    await client.post("/v1/customers", json={"source_id": "a"}, headers=headers)
    r = await client.post("/v1/customers", json={"source_id": "b"}, headers=headers)
    assert r.status_code == 409
    assert error_of(r)["code"] == "idempotency_key_reused"
    assert await count_rows(db, "customers", tenant.workspace_id) == 1
    other_path = await client.post(
        "/v1/products",
        json={"sku": "a", "name": "A", "price": 1, "currency": "EUR"},
        headers=headers,
    )
    assert other_path.status_code == 409


async def test_keys_are_per_workspace(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = {"source_id": "a"}
    a = await client.post(
        "/v1/customers", json=body, headers={**tenant.headers, "Idempotency-Key": "k"}
    )
    b = await client.post(
        "/v1/customers", json=body, headers={**other_tenant.headers, "Idempotency-Key": "k"}
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_concurrent_requests_with_one_key_execute_once(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "race"}
    body = {"sku": "race", "name": "Race", "price": "1", "currency": "EUR"}
    responses = await asyncio.gather(
        *(client.post("/v1/products", json=body, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum("idempotent-replayed" in r.headers for r in responses) == 9
    assert await count_rows(db, "products", tenant.workspace_id) == 1


async def test_a_failed_request_does_not_burn_its_key(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "retry-me"}
    bad = await client.post(
        "/v1/products",
        json={"sku": "a", "name": "A", "price": "-1", "currency": "EUR"},
        headers=headers,
    )
    assert bad.status_code == 422
    good = await client.post(
        "/v1/products",
        json={"sku": "a", "name": "A", "price": "1", "currency": "EUR"},
        headers=headers,
    )
    assert good.status_code == 201


async def test_bad_keys_are_refused(client: AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/v1/customers",
        json={"source_id": "a"},
        headers={**tenant.headers, "Idempotency-Key": "x" * 256},
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "Idempotency-Key"


async def test_keys_are_kept_for_the_retention_period(
    client: AsyncClient, tenant: Tenant, db, clock: FakeClock
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "old"}
    await client.post("/v1/customers", json={"source_id": "a"}, headers=headers)
    retention = timedelta(hours=24)
    clock.advance(hours=23, minutes=59)
    async with db.transaction() as session:
        assert await purge(session, clock(), retention) == 0
    replay = await client.post("/v1/customers", json={"source_id": "a"}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    clock.advance(minutes=2)
    async with db.transaction() as session:
        assert await purge(session, clock(), retention) >= 1
    assert await count_rows(db, "idempotency_keys", tenant.workspace_id) == 0


async def test_the_purge_keeps_keys_for_the_setting_and_never_under_24_hours(
    client: AsyncClient, tenant: Tenant, db, clock: FakeClock, settings: Settings
) -> None:
    """GOODWILL_IDEMPOTENCY_RETENTION_HOURS: 48 by default; a smaller value counts as 24."""
    headers = {**tenant.headers, "Idempotency-Key": "kept"}
    await client.post("/v1/customers", json={"source_id": "a"}, headers=headers)
    too_short = Settings(database_url=settings.database_url, idempotency_retention_hours=1)

    async def kept() -> int:  # other tests' keys share the database: count this workspace's
        return await count_rows(db, "idempotency_keys", tenant.workspace_id)

    clock.advance(hours=23)
    await run_once(db, too_short, clock)
    assert await kept() == 1
    clock.advance(hours=24)  # 47 hours old
    await run_once(db, settings, clock)  # the default keeps it for 48
    assert await kept() == 1
    replay = await client.post("/v1/customers", json={"source_id": "a"}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    await run_once(db, too_short, clock)
    assert await kept() == 0
