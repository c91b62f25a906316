from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import Tenant, count_rows, error_of

STAMPS = {"stamps_required": 9, "reward": {"description": "The 10th coffee free"}}


async def test_create_each_kind_with_its_settings(client: AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/v1/programs",
        json={"kind": "referral", "name": "Friends", "currency": "EUR"},
        headers=tenant.headers,
    )
    assert r.status_code == 201
    assert r.json()["settings"] == {"attribution_window_days": 30}
    assert r.json()["status"] == "active"

    r = await client.post(
        "/v1/programs",
        json={
            "kind": "stamps",
            "name": "Coffee card",
            "currency": "EUR",
            "settings": {**STAMPS, "conditions": {"field": "amount", "op": "gte", "value": "3.00"}},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["stamps_required"] == 9
    assert r.json()["settings"]["stamps_per_purchase"] == "one"

    r = await client.post(
        "/v1/programs",
        json={
            "kind": "points",
            "name": "Points",
            "currency": "JPY",
            "settings": {
                "earning_rules": [
                    {"trigger": "purchase", "points_per_unit": "0.1"},
                    {"trigger": "signed_up", "fixed_points": 50},
                ],
                "pending_days": 14,
                "expiry_days": 365,
            },
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["earning_rules"][0]["rounding"] == "floor"


async def test_bad_settings_are_named_and_write_nothing(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    cases = [
        ({"kind": "stamps", "name": "S", "currency": "EUR"}, "settings.stamps_required"),
        (
            {
                "kind": "stamps",
                "name": "S",
                "currency": "EUR",
                "settings": {**STAMPS, "stamps_required": 0},
            },
            "settings.stamps_required",
        ),
        (
            {
                "kind": "stamps",
                "name": "S",
                "currency": "EUR",
                "settings": {
                    **STAMPS,
                    "conditions": {"field": "amount", "op": "bigger", "value": 1},
                },
            },
            "settings.conditions.op",
        ),
        (
            {"kind": "referral", "name": "R", "currency": "EUR", "settings": {"nope": 1}},
            "settings.nope",
        ),
        (
            {
                "kind": "points",
                "name": "P",
                "currency": "EUR",
                "settings": {"earning_rules": [{"trigger": "purchase"}]},
            },
            "settings.earning_rules[0]",
        ),
        (
            {
                "kind": "points",
                "name": "P",
                "currency": "EUR",
                "settings": {"earning_rules": [{"trigger": "x", "points_per_unit": 1}]},
            },
            "settings.earning_rules[0].points_per_unit",
        ),
        ({"kind": "loyalty", "name": "L", "currency": "EUR"}, "kind"),
        ({"kind": "referral", "name": "R", "currency": "ZZZ"}, "currency"),
    ]
    for body, param in cases:
        r = await client.post("/v1/programs", json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)
        assert error_of(r)["param"] == param, (body, r.text)
    assert await count_rows(db, "programs", tenant.workspace_id) == 0
    r = await client.post(
        "/v1/programs",
        json={"kind": "referral", "name": "R", "currency": "eur"},
        headers=tenant.headers,
    )
    assert error_of(r)["message"] == (
        "currency: must be an ISO 4217 currency code in capitals, such as EUR"
    )


async def test_patch_status_and_list(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    p = (
        await client.post(
            "/v1/programs",
            json={"kind": "referral", "name": "R", "currency": "EUR"},
            headers=tenant.headers,
        )
    ).json()
    r = await client.patch(
        f"/v1/programs/{p['id']}", json={"status": "paused"}, headers=tenant.headers
    )
    assert r.json()["status"] == "paused"
    r = await client.patch(
        f"/v1/programs/{p['id']}", json={"kind": "stamps"}, headers=tenant.headers
    )
    assert r.status_code == 422  # kind is fixed at creation
    r = await client.patch(
        f"/v1/programs/{p['id']}", json={"status": "archived"}, headers=tenant.headers
    )
    assert r.status_code == 200
    r = await client.patch(
        f"/v1/programs/{p['id']}", json={"status": "active"}, headers=tenant.headers
    )
    assert r.status_code == 409
    listed = await client.get("/v1/programs?kind=referral&status=archived", headers=tenant.headers)
    assert [x["id"] for x in listed.json()["data"]] == [p["id"]]
    assert (await client.get("/v1/programs?status=active", headers=tenant.headers)).json()[
        "data"
    ] == []
    # another workspace
    assert (
        await client.get(f"/v1/programs/{p['id']}", headers=other_tenant.headers)
    ).status_code == 404
    r = await client.patch(
        f"/v1/programs/{p['id']}", json={"name": "x"}, headers=other_tenant.headers
    )
    assert r.status_code == 404
    assert (await client.get("/v1/programs", headers=other_tenant.headers)).json()["data"] == []
