from __future__ import annotations

import uuid

from httpx import AsyncClient

from goodwill.db import Database
from goodwill.workspaces import service as workspaces
from tests.conftest import FakeClock, Tenant, error_of


async def test_missing_wrong_and_revoked_keys_are_401(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    r = await client.get("/v1/customers")
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"
    r = await client.get("/v1/customers", headers={"X-Api-Key": "gw_sk_wrong"})
    assert r.status_code == 401
    assert error_of(r)["message"] == "Invalid API key"
    assert (await client.get("/v1/customers", headers=tenant.headers)).status_code == 200
    bearer = {"Authorization": f"Bearer {tenant.secret}"}
    assert (await client.get("/v1/customers", headers=bearer)).status_code == 200

    async with db.transaction() as session:
        keys = await workspaces.list_keys(session, tenant.workspace_id)
        await workspaces.revoke_key(session, str(keys[0].id), clock())
    r = await client.get("/v1/customers", headers=tenant.headers)
    assert r.status_code == 401  # at once: no cache
    assert (await client.get("/v1/customers", headers=bearer)).status_code == 401


async def test_keys_are_stored_hashed_with_a_visible_prefix(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        ws = await workspaces.create_workspace(session, "W", clock())
        issued = await workspaces.create_secret_key(session, ws.id, clock())
        key = issued.key
    assert issued.secret.startswith("gw_sk_")
    assert issued.secret.startswith(key.prefix)
    assert len(key.prefix) == len("gw_sk_") + 10
    assert key.secret_hash == workspaces.hash_secret(issued.secret)
    assert issued.secret not in (key.secret_hash, key.prefix)


async def test_client_keys_are_refused_on_the_secret_api(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        issued = await workspaces.create_client_key(
            session, tenant.workspace_id, ["https://shop.example"], clock()
        )
    as_client = {
        "X-Client-Application-Id": str(issued.key.application_id),
        "X-Client-Token": issued.secret,
    }
    r = await client.get("/v1/customers", headers=as_client)
    assert r.status_code == 403
    r = await client.get("/v1/customers", headers={"X-Api-Key": issued.secret})
    assert r.status_code == 401


async def test_origins_are_normalized_and_checked(
    db: Database, clock: FakeClock, tenant: Tenant
) -> None:
    import pytest

    from goodwill.errors import ValidationFailed

    async with db.transaction() as session:
        issued = await workspaces.create_client_key(
            session,
            tenant.workspace_id,
            ["https://Shop.example:443/", "http://localhost:3000"],
            clock(),
        )
        assert issued.key.allowed_origins == ["http://localhost:3000", "https://shop.example"]
        for bad in ["shop.example", "https://shop.example/path", "ftp://x"]:
            with pytest.raises(ValidationFailed):
                await workspaces.create_client_key(session, tenant.workspace_id, [bad], clock())


async def test_another_workspace_sees_nothing(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """Every route answers another workspace's key as if the object did not exist."""
    customer = (
        await client.post(
            "/v1/customers", json={"source_id": "c1", "email": "a@x.io"}, headers=tenant.headers
        )
    ).json()
    product = (
        await client.post(
            "/v1/products",
            json={"sku": "s1", "name": "S", "price": 1, "currency": "EUR"},
            headers=tenant.headers,
        )
    ).json()
    missing = str(uuid.uuid4())
    for path in (f"/v1/customers/{customer['id']}", f"/v1/products/{product['id']}"):
        theirs = await client.get(path, headers=other_tenant.headers)
        nowhere = await client.get(
            path.rsplit("/", 1)[0] + f"/{missing}", headers=other_tenant.headers
        )
        assert theirs.status_code == nowhere.status_code == 404
        assert error_of(theirs)["code"] == error_of(nowhere)["code"] == "not_found"
        patched = await client.patch(
            path, json={"metadata": {"x": 1}}, headers=other_tenant.headers
        )
        assert patched.status_code == 404
    for path in (
        "/v1/customers",
        "/v1/customers?source_id=c1",
        "/v1/customers?email=a@x.io",
        "/v1/products",
        "/v1/products?sku=s1",
    ):
        listed = await client.get(path, headers=other_tenant.headers)
        assert listed.json()["data"] == [], path
    # the same source_id and sku are free in the other workspace: nothing leaks through conflicts
    r = await client.post("/v1/customers", json={"source_id": "c1"}, headers=other_tenant.headers)
    assert r.status_code == 201
    assert r.json()["id"] != customer["id"]
    r = await client.post(
        "/v1/products",
        json={"sku": "s1", "name": "S", "price": 1, "currency": "EUR"},
        headers=other_tenant.headers,
    )
    assert r.status_code == 201
    mine = await client.get(f"/v1/customers/{customer['id']}", headers=tenant.headers)
    assert mine.json()["metadata"] == {}
