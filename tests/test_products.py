from __future__ import annotations

import asyncio

from httpx import AsyncClient

from tests.conftest import Tenant, count_rows, error_of


async def test_create_get_patch_list(client: AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/v1/products",
        json={"sku": "mug", "name": "Mug", "price": "12.5", "currency": "EUR"},
        headers=tenant.headers,
    )
    assert r.status_code == 201
    mug = r.json()
    assert mug["price"] == 12.5
    assert r.text.count('"price":12.50') == 1  # exact decimal, with the currency's places
    assert mug["active"] is True

    r = await client.post(
        "/v1/products",
        json={"sku": "tea", "name": "Tea", "price": 1500, "currency": "JPY", "active": False},
        headers=tenant.headers,
    )
    tea = r.json()
    assert '"price":1500' in r.text
    r = await client.post(
        "/v1/products",
        json={"sku": "oud", "name": "Oud", "price": "1.005", "currency": "BHD"},
        headers=tenant.headers,
    )
    assert '"price":1.005' in r.text

    got = await client.get(f"/v1/products/{mug['id']}", headers=tenant.headers)
    assert got.json() == mug

    patched = await client.patch(
        f"/v1/products/{mug['id']}", json={"price": "13", "active": False}, headers=tenant.headers
    )
    assert patched.status_code == 200
    assert '"price":13.00' in patched.text
    assert patched.json()["active"] is False

    inactive = await client.get("/v1/products?active=false", headers=tenant.headers)
    assert {p["sku"] for p in inactive.json()["data"]} == {"mug", "tea"}
    by_sku = await client.get("/v1/products?sku=tea", headers=tenant.headers)
    assert [p["id"] for p in by_sku.json()["data"]] == [tea["id"]]


async def test_duplicate_sku_is_a_conflict_and_writes_nothing(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    body = {"sku": "mug", "name": "Mug", "price": "1", "currency": "EUR"}
    assert (await client.post("/v1/products", json=body, headers=tenant.headers)).status_code == 201
    r = await client.post("/v1/products", json=body, headers=tenant.headers)
    assert r.status_code == 409
    assert error_of(r)["param"] == "sku"
    assert await count_rows(db, "products", tenant.workspace_id) == 1


async def test_money_is_checked_against_the_currency(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    cases = [
        ({"price": "1.001"}, "price"),  # more places than EUR has
        ({"price": "-1"}, "price"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"price": "1.5", "currency": "JPY"}, "price"),
        ({"price": "NaN"}, "price"),
    ]
    for change, param in cases:
        body = {"sku": "x", "name": "X", "price": "1", "currency": "EUR", **change}
        r = await client.post("/v1/products", json=body, headers=tenant.headers)
        assert r.status_code == 422, (change, r.text)
        assert error_of(r)["param"] == param, change
    assert await count_rows(db, "products", tenant.workspace_id) == 0


async def test_concurrent_patches_to_one_sku_give_one_winner_and_409s(
    client: AsyncClient, tenant: Tenant
) -> None:
    """The unique constraint decides; the losers get a 409, never a 500 (PostgreSQL)."""
    ids = []
    for n in range(10):
        body = {"sku": f"s{n}", "name": "S", "price": "1", "currency": "EUR"}
        ids.append(
            (await client.post("/v1/products", json=body, headers=tenant.headers)).json()["id"]
        )
    responses = await asyncio.gather(
        *(
            client.patch(f"/v1/products/{i}", json={"sku": "taken"}, headers=tenant.headers)
            for i in ids
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    for r in responses:
        if r.status_code == 409:
            assert error_of(r)["param"] == "sku"
    listed = await client.get("/v1/products?sku=taken", headers=tenant.headers)
    assert len(listed.json()["data"]) == 1
