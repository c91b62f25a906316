from __future__ import annotations

import uuid

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows, error_of
from tests.kit import Kit


async def test_links_for_a_promoter(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    link = await kit.post(
        "/v1/links",
        {
            "promoter_id": ada["id"],
            "code": "Ada_Summer-26",
            "utm_params": {"utm_campaign": "summer"},
        },
        201,
    )
    assert link["code"] == "Ada_Summer-26"
    assert link["program_id"] == program["id"]
    assert link["destination_url"] == program["settings"]["destination_url"]
    assert link["object"] == "referral_link"
    assert (await kit.get(f"/v1/links/{link['id']}")) == link
    generated = await kit.post(
        "/v1/links", {"promoter_id": ada["id"], "destination_url": "https://x.example/"}, 201
    )
    listed = await kit.get(f"/v1/links?promoter_id={ada['id']}")
    assert [x["id"] for x in listed["data"]] == [
        generated["id"],
        link["id"],
        ada["default_link"]["id"],
    ]
    assert [x["id"] for x in (await kit.get("/v1/links?code=Ada_Summer-26"))["data"]] == [
        link["id"]
    ]

    before = await count_rows(db, "referral_links", tenant.workspace_id)
    for body, status, param in (
        ({"promoter_id": ada["id"], "code": "Ada_Summer-26"}, 409, "code"),
        ({"promoter_id": ada["id"], "code": "-lead"}, 422, "code"),
        ({"promoter_id": ada["id"], "code": "x" * 65}, 422, "code"),
        ({"promoter_id": str(uuid.uuid4())}, 404, "promoter_id"),
        ({"promoter_id": ada["id"], "destination_url": "https:/x"}, 422, "destination_url"),
        ({}, 422, "promoter_id"),
    ):
        r = await client.post("/v1/links", json=body, headers=tenant.headers)
        assert (r.status_code, error_of(r).get("param")) == (status, param), (body, r.text)
    assert await count_rows(db, "referral_links", tenant.workspace_id) == before

    r = await client.post(
        "/v1/links", json={"promoter_id": ada["id"]}, headers=other_tenant.headers
    )
    assert (r.status_code, error_of(r)["param"]) == (404, "promoter_id")
    assert (
        await client.get(f"/v1/links/{link['id']}", headers=other_tenant.headers)
    ).status_code == 404
    r = await client.get("/v1/links?code=Ada_Summer-26", headers=other_tenant.headers)
    assert r.json()["data"] == []
