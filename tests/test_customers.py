from __future__ import annotations

import asyncio

from httpx import AsyncClient

from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.kit import stored_events


async def test_upsert_creates_then_updates_the_fields_given(
    client: AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    created = await client.post(
        "/v1/customers",
        json={"source_id": "cust-1", "email": "ada@example.com", "metadata": {"tier": "gold"}},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["source_id"] == "cust-1"
    assert body["email"] == "ada@example.com"
    assert body["name"] is None
    assert body["metadata"] == {"tier": "gold"}
    assert body["created_at"] == "2026-04-06T06:23:54.793Z"
    assert body["object"] == "customer"

    clock.advance(minutes=5)
    updated = await client.post(
        "/v1/customers", json={"source_id": "cust-1", "name": "Ada"}, headers=tenant.headers
    )
    assert updated.status_code == 200
    again = updated.json()
    assert again["id"] == body["id"]
    assert again["name"] == "Ada"
    assert again["email"] == "ada@example.com"  # not given: kept
    assert again["metadata"] == {"tier": "gold"}
    assert again["created_at"] == "2026-04-06T06:23:54.793Z"
    assert again["updated_at"] == "2026-04-06T06:28:54.793Z"


async def test_get_patch_and_list(client: AsyncClient, tenant: Tenant) -> None:
    ids = []
    for n in range(5):
        r = await client.post(
            "/v1/customers",
            json={"source_id": f"c{n}", "email": f"p{n % 2}@example.com"},
            headers=tenant.headers,
        )
        ids.append(r.json()["id"])
    got = await client.get(f"/v1/customers/{ids[0]}", headers=tenant.headers)
    assert got.status_code == 200
    assert got.json()["source_id"] == "c0"

    patched = await client.patch(
        f"/v1/customers/{ids[0]}",
        json={"email": None, "metadata": {"a": [1, 2]}},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["email"] is None
    assert patched.json()["metadata"] == {"a": [1, 2]}

    first = await client.get("/v1/customers?limit=2", headers=tenant.headers)
    page1 = first.json()
    assert [c["id"] for c in page1["data"]] == [ids[4], ids[3]]
    assert page1["has_more"] is True
    second = await client.get(
        f"/v1/customers?limit=2&cursor={page1['next_cursor']}", headers=tenant.headers
    )
    assert [c["id"] for c in second.json()["data"]] == [ids[2], ids[1]]
    third = await client.get(
        f"/v1/customers?limit=2&cursor={second.json()['next_cursor']}", headers=tenant.headers
    )
    assert [c["id"] for c in third.json()["data"]] == [ids[0]]
    assert third.json()["has_more"] is False
    assert third.json()["next_cursor"] is None

    by_email = await client.get("/v1/customers?email=p1@example.com", headers=tenant.headers)
    assert {c["source_id"] for c in by_email.json()["data"]} == {"c1", "c3"}
    by_source = await client.get("/v1/customers?source_id=c2", headers=tenant.headers)
    assert [c["id"] for c in by_source.json()["data"]] == [ids[2]]


async def test_patch_to_a_taken_source_id_is_a_conflict(
    client: AsyncClient, tenant: Tenant
) -> None:
    a = (await client.post("/v1/customers", json={"source_id": "a"}, headers=tenant.headers)).json()
    await client.post("/v1/customers", json={"source_id": "b"}, headers=tenant.headers)
    r = await client.patch(
        f"/v1/customers/{a['id']}", json={"source_id": "b"}, headers=tenant.headers
    )
    assert r.status_code == 409
    assert error_of(r)["param"] == "source_id"
    again = await client.get(f"/v1/customers/{a['id']}", headers=tenant.headers)
    assert again.json()["source_id"] == "a"


async def test_concurrent_upserts_of_one_source_id_make_one_customer(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/customers",
                json={"source_id": "same", "name": f"n{i}"},
                headers=tenant.headers,
            )
            for i in range(20)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_rows(db, "customers", tenant.workspace_id) == 1
    assert len(await stored_events(db, tenant.workspace_id)) == 1  # one customer.created


async def test_customer_created_event_is_written_with_the_customer(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    from tests.kit import events_of

    r = await client.post("/v1/customers", json={"source_id": "e1"}, headers=tenant.headers)
    events = await events_of(db, tenant)
    assert [(e.type, e.source, e.subject) for e in events] == [
        ("customer.created", "urn:POST:/customers", r.json()["id"])
    ]
    assert events[0].data["source_id"] == "e1"


async def test_concurrent_patches_to_one_source_id_give_one_winner_and_409s(
    client: AsyncClient, tenant: Tenant
) -> None:
    """The unique constraint decides; the losers get a 409, never a 500 (PostgreSQL)."""
    ids = [
        (
            await client.post("/v1/customers", json={"source_id": f"p{n}"}, headers=tenant.headers)
        ).json()["id"]
        for n in range(10)
    ]
    responses = await asyncio.gather(
        *(
            client.patch(f"/v1/customers/{i}", json={"source_id": "taken"}, headers=tenant.headers)
            for i in ids
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    for r in responses:
        if r.status_code == 409:
            assert error_of(r)["param"] == "source_id"
    listed = await client.get("/v1/customers?limit=100", headers=tenant.headers)
    assert sorted(c["source_id"] for c in listed.json()["data"]).count("taken") == 1
