"""The domains together, through the API: purchases and refunds feed the loyalty programs, and
custom events fire referral rules and earning rules, each in the one request transaction."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows
from tests.kit import events_of
from tests.webhook_helpers import seed_001


async def _events(db: Database, tenant: Tenant, type_: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in await events_of(db, tenant, type_)]


async def _post(
    client: AsyncClient, tenant: Tenant, path: str, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    r = await client.post(path, json=body, headers=tenant.headers)
    assert r.status_code == status, r.text
    return dict(r.json())


async def test_seed_001_lifecycle_through_purchases_refunds_and_redemptions(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    program = await _post(
        client,
        tenant,
        "/v1/programs",
        {
            "kind": "stamps",
            "name": "Coffee",
            "currency": "EUR",
            "settings": {"stamps_required": 2, "reward": {"description": "A free coffee"}},
        },
    )
    customer = {"source_id": "ada"}
    first = await _post(
        client,
        tenant,
        "/v1/purchases",
        {"external_id": "txn_98765", "customer": customer, "amount": "3.50", "currency": "EUR"},
    )
    created = await _events(db, tenant, "qualifying_purchase.created")
    assert created == [
        {
            "qualifying_purchase_id": created[0]["qualifying_purchase_id"],
            "loyalty_program_id": program["id"],
            "transaction_id": first["id"],
            "transaction_ref": "txn_98765",
            "created_at": created[0]["created_at"],
        }
    ]
    # a replayed purchase adds no stamp
    await _post(
        client,
        tenant,
        "/v1/purchases",
        {"external_id": "txn_98765", "customer": customer, "amount": "3.50", "currency": "EUR"},
        200,
    )
    assert len(await _events(db, tenant, "qualifying_purchase.created")) == 1

    purchase_id = first["id"]
    await _post(client, tenant, f"/v1/purchases/{purchase_id}/refunds", {})
    voided = await _events(db, tenant, "qualifying_purchase.voided")
    assert [v["transaction_ref"] for v in voided] == ["txn_98765"]
    assert set(voided[0]) == {
        "qualifying_purchase_id",
        "loyalty_program_id",
        "transaction_id",
        "transaction_ref",
        "voided_at",
    }

    for n in (1, 2):
        await _post(
            client,
            tenant,
            "/v1/purchases",
            {"external_id": f"txn_{n}", "customer": customer, "amount": "4.00", "currency": "EUR"},
        )
    redemption = await _post(
        client,
        tenant,
        "/v1/redemptions",
        {"program_id": program["id"], "customer": customer, "stamps": 2, "external_id": "r1"},
    )
    assert [
        r["transaction_ref"] for r in await _events(db, tenant, "qualifying_purchase.redeemed")
    ] == ["txn_1", "txn_2"]
    too_many = await client.post(
        "/v1/redemptions",
        headers=tenant.headers,
        json={"program_id": program["id"], "customer": customer, "stamps": 1, "external_id": "r2"},
    )
    assert too_many.status_code == 409
    await _post(client, tenant, f"/v1/redemptions/{redemption['id']}/reversal", {}, 200)
    unredeemed = await _events(db, tenant, "qualifying_purchase.unredeemed")
    assert [u["transaction_ref"] for u in unredeemed] == ["txn_1", "txn_2"]
    assert set(unredeemed[0]) == {
        "qualifying_purchase_id",
        "loyalty_program_id",
        "transaction_id",
        "transaction_ref",
    }
    again = await client.post(
        f"/v1/redemptions/{redemption['id']}/reversal", json={}, headers=tenant.headers
    )
    assert again.status_code == 409

    # the real events, read from the feed in the flat format, are seed 001's field for field
    feed = await client.get("/v1/events?format=flat&limit=100", headers=tenant.headers)
    flat = {}
    for event in feed.json()["data"]:
        flat.setdefault(event["type"], event)
    for event_type, seed in seed_001().items():
        got = flat[event_type]
        assert list(got) == list(seed), event_type
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in seed.items()}
    assert flat["qualifying_purchase.voided"]["transaction_ref"] == "txn_98765"
    assert flat["qualifying_purchase.created"]["transaction_id"] == first["id"]
    assert flat["qualifying_purchase.unredeemed"]["loyalty_program_id"] == program["id"]


async def test_points_from_purchases_and_referral_rules_from_custom_events(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    await _post(
        client,
        tenant,
        "/v1/programs",
        {
            "kind": "points",
            "name": "Points",
            "currency": "EUR",
            "settings": {"earning_rules": [{"trigger": "purchase", "points_per_unit": "1"}]},
        },
    )
    referral = await _post(
        client, tenant, "/v1/programs", {"kind": "referral", "name": "Friends", "currency": "EUR"}
    )
    await _post(
        client,
        tenant,
        f"/v1/programs/{referral['id']}/rules",
        {
            "name": "Signup bonus",
            "trigger": "custom:signed_up",
            "reward": {"type": "fixed", "amount": "2.00"},
            "hold_days": 0,
        },
    )
    promoter = await _post(
        client,
        tenant,
        f"/v1/programs/{referral['id']}/promoters",
        {"name": "Grace", "code": "grace-code", "destination_url": "https://shop.example/"},
    )

    await _post(
        client,
        tenant,
        "/v1/purchases",
        {
            "external_id": "p-1",
            "customer": {"source_id": "bob"},
            "amount": "12.80",
            "currency": "EUR",
        },
    )
    earned = await _events(db, tenant, "points.earned")
    assert len(earned) == 1

    r = await client.post(
        "/v1/events",
        headers=tenant.headers,
        json={
            "event": "signed_up",
            "customer": {"source_id": "carol"},
            "referral": {"code": "grace-code"},
        },
    )
    assert r.status_code == 200, r.text
    rewards = (
        await client.get(f"/v1/rewards?promoter_id={promoter['id']}", headers=tenant.headers)
    ).json()["data"]
    assert [(w["amount"], w["source"]["type"]) for w in rewards] == [(2.0, "event")]
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1


async def test_the_largest_purchase_earns_the_most_points_one_earning_gives(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    program = await _post(
        client,
        tenant,
        "/v1/programs",
        {
            "kind": "points",
            "name": "Generous",
            "currency": "EUR",
            "settings": {
                "earning_rules": [{"trigger": "purchase", "points_per_unit": "1000000"}],
                "pending_days": 0,
            },
        },
    )
    for n in (1, 2):
        await _post(
            client,
            tenant,
            "/v1/purchases",
            {
                "external_id": f"big-{n}",
                "customer": {"source_id": "whale"},
                "amount": "10000000000000.00",  # 10^15 cents, the largest amount
                "currency": "EUR",
            },
        )
    assert [e["points"] for e in await _events(db, tenant, "points.earned")] == [10**15] * 2
    customer_id = (await _events(db, tenant, "points.earned"))[0]["customer_id"]
    card = await client.get(
        f"/v1/programs/{program['id']}/cards/{customer_id}", headers=tenant.headers
    )
    assert card.json()["points"]["available"] == 2 * 10**15
    spent = await _post(
        client,
        tenant,
        "/v1/redemptions",
        {
            "program_id": program["id"],
            "customer": {"source_id": "whale"},
            "external_id": "yacht",
            "points": 10**15,
        },
    )
    assert spent["points"] == 10**15
