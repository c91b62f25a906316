from __future__ import annotations

import uuid

from httpx import AsyncClient

from goodwill.db import Database
from goodwill.ids import UNAMBIGUOUS_ALPHABET
from tests.conftest import Tenant, count_rows, error_of
from tests.kit import DESTINATION, Kit


async def test_a_promoter_comes_with_a_default_link(client: AsyncClient, tenant: Tenant) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    customer = await kit.post("/v1/customers", {"source_id": "ada"}, 201)
    ada = await kit.promoter(
        program,
        name="Ada",
        email="ada@example.com",
        customer_id=customer["id"],
        external_id="aff-1",
        metadata={"tier": "gold"},
    )
    link = ada["default_link"]
    assert len(link["code"]) == 8
    assert set(link["code"]) <= set(UNAMBIGUOUS_ALPHABET)
    assert link["destination_url"] == DESTINATION
    assert link["url"] == f"http://127.0.0.1:8000/r/{link['code']}"
    assert ada["balances"] == []
    assert ada["stats"] == {
        "clicks": 0,
        "leads": 0,
        "referrals": 0,
        "purchases": 0,
        "revenue": [],
        "rewards": [],
    }
    vanity = await kit.promoter(
        program,
        name="Bo",
        code="bo-friends",
        destination_url="https://shop.example/bo",
        utm_params={"utm_source": "bo", "utm_medium": "social"},
    )
    assert vanity["default_link"]["code"] == "bo-friends"
    assert vanity["default_link"]["utm_params"] == {"utm_source": "bo", "utm_medium": "social"}

    listed = await kit.get(f"/v1/promoters?program_id={program['id']}")
    assert [p["id"] for p in listed["data"]] == [vanity["id"], ada["id"]]
    assert listed["data"][1]["default_link"]["code"] == link["code"]
    for query, expected in (
        (f"customer_id={customer['id']}", [ada["id"]]),
        ("email=ada@example.com", [ada["id"]]),
        ("external_id=aff-1", [ada["id"]]),
        ("external_id=nope", []),
    ):
        found = await kit.get(f"/v1/promoters?{query}")
        assert [p["id"] for p in found["data"]] == expected, query


async def test_bad_promoters_are_refused_and_write_nothing(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    bare = await kit.post(
        "/v1/programs", {"kind": "referral", "name": "No destination", "currency": "EUR"}, 201
    )
    url = f"/v1/programs/{program['id']}/promoters"
    theirs = await client.post(
        "/v1/customers", json={"source_id": "x"}, headers=other_tenant.headers
    )
    cases = [
        (url, {}, 422, "name"),
        (url, {"name": "A", "email": "nope"}, 422, "email"),
        (url, {"name": "A", "code": "ab"}, 422, "code"),
        (url, {"name": "A", "code": "has space"}, 422, "code"),
        (url, {"name": "A", "destination_url": "javascript:alert(1)"}, 422, "destination_url"),
        (url, {"name": "A", "utm_params": {"utm_foo": "x"}}, 422, "utm_params.utm_foo"),
        (url, {"name": "A", "customer_id": str(uuid.uuid4())}, 404, "customer_id"),
        (url, {"name": "A", "customer_id": theirs.json()["id"]}, 404, "customer_id"),
        (f"/v1/programs/{bare['id']}/promoters", {"name": "A"}, 422, "destination_url"),
        (f"/v1/programs/{uuid.uuid4()}/promoters", {"name": "A"}, 404, None),
    ]
    for path, body, status, param in cases:
        r = await client.post(path, json=body, headers=tenant.headers)
        assert r.status_code == status, (body, r.text)
        assert error_of(r).get("param") == param, (body, r.text)
    assert await count_rows(db, "promoters", tenant.workspace_id) == 0
    assert await count_rows(db, "referral_links", tenant.workspace_id) == 0
    # a refused code is told what a code is, in words
    r = await client.post(url, json={"name": "A", "code": "-ab"}, headers=tenant.headers)
    assert error_of(r)["message"] == (
        "code: must be 3-64 letters, digits, '-' or '_', starting with a letter or digit"
    )

    await kit.promoter(program, external_id="aff-1", code="taken")
    r = await client.post(url, json={"name": "B", "external_id": "aff-1"}, headers=tenant.headers)
    assert (r.status_code, error_of(r)["param"]) == (409, "external_id")
    r = await client.post(url, json={"name": "B", "code": "taken"}, headers=tenant.headers)
    assert (r.status_code, error_of(r)["param"]) == (409, "code")
    assert await count_rows(db, "promoters", tenant.workspace_id) == 1
    # codes are public (/r/{code}), so unique across workspaces; the same external_id is not
    other = Kit(client, other_tenant)
    other_program = await other.program()
    r = await client.post(
        f"/v1/programs/{other_program['id']}/promoters",
        json={"name": "B", "code": "taken"},
        headers=other_tenant.headers,
    )
    assert r.status_code == 409
    await other.promoter(other_program, external_id="aff-1")

    r = await client.patch(
        f"/v1/programs/{program['id']}",
        json={"settings": {"destination_url": "shop.example"}},
        headers=tenant.headers,
    )
    assert (r.status_code, error_of(r)["param"]) == (422, "settings.destination_url")
    await client.patch(
        f"/v1/programs/{program['id']}", json={"status": "archived"}, headers=tenant.headers
    )
    r = await client.post(url, json={"name": "Late"}, headers=tenant.headers)
    assert r.status_code == 409


async def test_another_workspace_sees_no_promoter(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    for path in (f"/v1/promoters/{ada['id']}", f"/v1/promoters/{uuid.uuid4()}"):
        r = await client.get(path, headers=other_tenant.headers)
        assert r.status_code == 404
        assert error_of(r)["code"] == "not_found"
    r = await client.post(
        f"/v1/programs/{program['id']}/promoters", json={"name": "x"}, headers=other_tenant.headers
    )
    assert r.status_code == 404
    for query in ("", f"?program_id={program['id']}"):
        r = await client.get(f"/v1/promoters{query}", headers=other_tenant.headers)
        assert r.json()["data"] == []


async def test_live_stats_count_what_the_promoter_brought(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="5 flat", reward={"type": "fixed", "amount": "5"}, hold_days=0)
    await kit.rule(
        program, name="10%", reward={"type": "percentage", "percent": "10"}, hold_days=30
    )
    ada = await kit.promoter(program, name="Ada", email="ada@example.com", code="ada-stats")
    bea = await kit.promoter(program, name="Bea", code="bea-stats")
    for _ in range(2):
        assert (await client.get("/r/ada-stats")).status_code == 302
    leads = [
        ({"source_id": "carol"}, "ada-stats", "referred"),
        ({"source_id": "ada", "email": "ADA@example.com"}, "ada-stats", "refused"),
        ({"source_id": "carol"}, "bea-stats", "already_referred"),  # Ada's referral stands
    ]
    for customer, code, status in leads:
        lead = await kit.post("/v1/leads", {"customer": customer, "code": code}, 201)
        assert lead["status"] == status
    carols = await kit.purchase(external_id="c1", customer={"source_id": "carol"}, amount="100")
    await kit.refund(carols["id"], amount="20")  # rewards 5 and 10 keep 4 and 8
    await kit.purchase(
        external_id="d1", customer={"source_id": "dave"}, amount="50", code="bea-stats"
    )

    assert (await kit.get(f"/v1/promoters/{ada['id']}"))["stats"] == {
        "clicks": 2,
        "leads": 1,  # the self-referral was refused: not a lead she brought
        "referrals": 1,
        "purchases": 1,
        "revenue": [{"currency": "EUR", "amount": 80}],
        "rewards": [
            {"status": "approved", "unit": "EUR", "count": 1, "amount": 4},
            {"status": "pending", "unit": "EUR", "count": 1, "amount": 8},
        ],
    }
    assert (await kit.get(f"/v1/promoters/{bea['id']}"))["stats"] == {
        "clicks": 0,
        "leads": 0,  # Carol came through her link, but was Ada's already
        "referrals": 1,  # Dave, by his first purchase
        "purchases": 1,
        "revenue": [{"currency": "EUR", "amount": 50}],
        "rewards": [
            {"status": "approved", "unit": "EUR", "count": 1, "amount": 5},
            {"status": "pending", "unit": "EUR", "count": 1, "amount": 5},
        ],
    }
