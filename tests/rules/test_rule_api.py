from __future__ import annotations

import uuid

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows, error_of
from tests.kit import Kit


async def test_create_read_patch_and_list(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program("KWD")
    created = await kit.rule(
        program,
        name="12.5% up to 5 KWD, first 90 days",
        reward={"type": "percentage", "percent": "12.5", "cap": "5.000"},
        conditions={"all": [{"field": "utm.utm_source", "op": "eq", "value": "newsletter"}]},
        limits={
            "per_referral": 3,
            "window_days": 90,
            "per_promoter": {"period": "month", "max_amount": "20.500", "max_count": 10},
        },
        hold_days=30,
        exclusive_group="commission",
    )
    assert created["reward"] == {"type": "percentage", "percent": 12.5, "cap": 5.0}
    assert created["limits"] == {
        "per_referral": 3,
        "window_days": 90,
        "per_promoter": {"period": "month", "max_count": 10, "max_amount": 20.5},
    }
    assert created["object"] == "rule"
    path = f"/v1/programs/{program['id']}/rules/{created['id']}"
    assert (await kit.get(path)) == created

    r = await client.patch(
        path, json={"reward": {"type": "fixed", "amount": "1.250"}}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["reward"] == {"type": "fixed", "amount": 1.25}
    assert r.json()["limits"]["window_days"] == 90  # untouched fields are kept
    r = await client.patch(path, json={"active": False}, headers=tenant.headers)
    assert r.json()["active"] is False

    second = await kit.rule(program, trigger="lead", reward={"type": "points", "points": 5})
    listed = await kit.get(f"/v1/programs/{program['id']}/rules")
    assert [x["id"] for x in listed["data"]] == [second["id"], created["id"]]
    only = await kit.get(f"/v1/programs/{program['id']}/rules?trigger=lead&active=true")
    assert [x["id"] for x in only["data"]] == [second["id"]]

    for method, url in (
        ("GET", path),
        ("PATCH", path),
        ("GET", f"/v1/programs/{program['id']}/rules"),
        ("POST", f"/v1/programs/{program['id']}/rules"),
    ):
        body = {"name": "x"} if method == "PATCH" else None
        if method == "POST":
            body = {"name": "x", "trigger": "purchase", "reward": {"type": "points", "points": 1}}
        theirs = await client.request(method, url, json=body, headers=other_tenant.headers)
        assert theirs.status_code == 404, (method, url, theirs.text)
    # a rule id under another program of the same workspace is not found either
    other_program = await kit.program()
    r = await client.get(
        f"/v1/programs/{other_program['id']}/rules/{created['id']}", headers=tenant.headers
    )
    assert r.status_code == 404


async def test_bad_rules_name_every_field_and_write_nothing(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program("JPY")
    url = f"/v1/programs/{program['id']}/rules"
    base = {"name": "r", "trigger": "purchase", "reward": {"type": "fixed", "amount": "100"}}
    cases = [
        ({**base, "trigger": "signup"}, ["trigger"]),
        ({**base, "trigger": "custom:"}, ["trigger"]),
        ({**base, "reward": {"type": "fixed"}}, ["reward.amount"]),
        ({**base, "reward": {"type": "fixed", "amount": "10.5"}}, ["reward.amount"]),  # JPY
        ({**base, "reward": {"type": "fixed", "amount": "0"}}, ["reward.amount"]),
        ({**base, "reward": {"type": "fixed", "amount": "5", "percent": "3"}}, ["reward.percent"]),
        ({**base, "reward": {"type": "percentage", "percent": "150"}}, ["reward.percent"]),
        (
            {**base, "trigger": "lead", "reward": {"type": "percentage", "percent": "5"}},
            ["reward.type"],
        ),
        ({**base, "reward": {"type": "points"}}, ["reward.points"]),
        ({**base, "reward": {"type": "bonus"}}, ["reward.type"]),
        ({**base, "trigger": "click", "beneficiary": "referred_customer"}, ["beneficiary"]),
        ({**base, "trigger": "click", "limits": {"per_referral": 1}}, ["limits.per_referral"]),
        ({**base, "limits": {"per_promoter": {"period": "month"}}}, ["limits.per_promoter"]),
        ({**base, "limits": {"per_promoter": {"period": "fortnight", "max_count": 1}}}, None),
        ({**base, "limits": {"window_days": -1}}, ["limits.window_days"]),
        (
            {
                **base,
                "reward": {"type": "points", "points": 5},
                "limits": {"per_promoter": {"period": "day", "max_amount": "1e400"}},
            },
            ["limits.per_promoter.max_amount"],
        ),
        (
            {
                **base,
                "reward": {"type": "points", "points": 5},
                "limits": {"per_promoter": {"period": "day", "max_amount": "2.5"}},
            },
            ["limits.per_promoter.max_amount"],
        ),
        ({**base, "hold_days": 4000}, ["hold_days"]),
        ({**base, "conditions": {"field": "amount", "op": "bigger", "value": 1}}, None),
        (
            {
                **base,
                "reward": {"type": "fixed", "amount": "1.5"},
                "conditions": {"field": "", "op": "eq", "value": 1},
            },
            ["reward.amount", "conditions.field"],
        ),
        ({**base, "colour": "red"}, ["colour"]),
        # a field the trigger's events do not have would never hold
        (
            {
                **base,
                "conditions": {
                    "all": [
                        {"field": "amout", "op": "gte", "value": 1},
                        {"not": {"field": "utm.source", "op": "eq", "value": "ads"}},
                        {"field": "customer.metadata.", "op": "exists", "value": True},
                        {"field": "customer.metadata.tier", "op": "eq", "value": "gold"},
                    ]
                },
            },
            ["conditions.all[0].field", "conditions.all[1].not.field", "conditions.all[2].field"],
        ),
        (
            {**base, "trigger": "click", "conditions": {"field": "amount", "op": "gt", "value": 1}},
            ["conditions.field"],
        ),
        (
            {
                **base,
                "trigger": "custom:signed_up",
                "conditions": {"field": "purchase_number", "op": "eq", "value": 1},
            },
            ["conditions.field"],
        ),
    ]
    for body, params in cases:
        r = await client.post(url, json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)
        found = [e["param"] for e in error_of(r)["errors"]]
        if params is not None:
            assert found == params, (body, found)
        else:
            assert found, body
    assert await count_rows(db, "reward_rules", tenant.workspace_id) == 0
    r = await client.post(
        url,
        json={**base, "conditions": {"field": "amout", "op": "gte", "value": 1}},
        headers=tenant.headers,
    )
    assert error_of(r)["message"].startswith(
        "conditions.field: 'amout' is not a fact of a purchase event; the facts are: amount, "
    )
    every_documented_fact = [
        ("purchase", "amount"),
        ("purchase", "currency"),
        ("purchase", "product_ids"),
        ("purchase", "item_ids"),
        ("purchase", "purchase_number"),
        ("purchase", "days_since_referral"),
        ("purchase", "customer.email"),
        ("purchase", "customer.source_id"),
        ("purchase", "customer.metadata.tier"),
        ("purchase", "promoter.metadata.tier"),
        ("purchase", "utm.utm_source"),
        ("lead", "utm.utm_campaign"),
        ("lead", "event.name"),
        ("lead", "event.metadata.plan"),
        ("lead", "days_since_referral"),
        ("custom:signed_up", "event.metadata.plan"),
        ("custom:signed_up", "customer.metadata.tier"),
        ("click", "utm.utm_medium"),
        ("click", "referrer"),
    ]
    for trigger, field in every_documented_fact:
        await kit.rule(
            program,
            trigger=trigger,
            reward={"type": "fixed", "amount": "100"},
            conditions={"field": field, "op": "exists", "value": True},
        )

    created = await kit.rule(program, reward={"type": "fixed", "amount": "100"})
    r = await client.patch(
        f"{url}/{created['id']}",
        json={"trigger": "lead", "reward": {"type": "percentage", "percent": "5"}},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert (await kit.get(f"{url}/{created['id']}"))["trigger"] == "purchase"


async def test_rules_belong_to_referral_programs(client: AsyncClient, tenant: Tenant) -> None:
    stamps = (
        await client.post(
            "/v1/programs",
            json={
                "kind": "stamps",
                "name": "Card",
                "currency": "EUR",
                "settings": {"stamps_required": 9, "reward": {"description": "A coffee"}},
            },
            headers=tenant.headers,
        )
    ).json()
    r = await client.post(
        f"/v1/programs/{stamps['id']}/rules",
        json={"name": "r", "trigger": "purchase", "reward": {"type": "points", "points": 1}},
        headers=tenant.headers,
    )
    assert r.status_code == 409
    r = await client.get(f"/v1/programs/{uuid.uuid4()}/rules", headers=tenant.headers)
    assert r.status_code == 404
