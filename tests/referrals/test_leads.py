from __future__ import annotations

import uuid

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.kit import Kit, code_of, events_of


async def test_a_lead_makes_a_referral_and_fires_lead_rules(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    signup = await kit.rule(
        program,
        trigger="lead",
        name="5 EUR per signup",
        reward={"type": "fixed", "amount": "5"},
        conditions={"field": "event.metadata.plan", "op": "eq", "value": "pro"},
    )
    buy = await kit.rule(program, reward={"type": "fixed", "amount": "1"})
    ada = await kit.promoter(program)
    lead = await kit.post(
        "/v1/leads",
        {
            "customer": {"source_id": "bob", "email": "bob@example.com"},
            "code": code_of(ada),
            "metadata": {"plan": "pro"},
        },
        201,
    )
    assert lead["status"] == "referred"
    assert lead["promoter_id"] == ada["id"]
    assert lead["referral"]["promoter_id"] == ada["id"]
    assert lead["referral"]["source"] == "lead"
    assert [r["amount"] for r in lead["rewards"]] == [5]
    assert lead["rewards"][0]["source"] == {"type": "lead", "id": lead["id"]}
    rules = {r["rule_id"]: r for r in lead["explanation"]["rules"]}
    assert rules[signup["id"]]["fired"] is True
    assert rules[buy["id"]]["code"] == "other_trigger"
    assert lead["explanation"]["attribution"]["status"] == "referred"
    assert (await kit.get(f"/v1/leads/{lead['id']}")) == lead
    assert (await kit.get(f"/v1/referrals/{lead['referral']['id']}")) == lead["referral"]
    [event] = await events_of(db, tenant, "referral.created")
    assert event.data["customer_id"] == lead["customer_id"]
    assert event.attributes == {"program_id": program["id"], "promoter_id": ada["id"]}


async def test_first_touch_wins(client: AsyncClient, tenant: Tenant, db: Database) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, trigger="lead", reward={"type": "fixed", "amount": "5"})
    ada = await kit.promoter(program, name="Ada")
    cy = await kit.promoter(program, name="Cy")
    first = await kit.post(
        "/v1/leads", {"customer": {"source_id": "bob"}, "code": code_of(ada)}, 201
    )
    second = await kit.post(
        "/v1/leads", {"customer": {"source_id": "bob"}, "link_id": cy["default_link"]["id"]}, 201
    )
    assert second["status"] == "already_referred"
    assert second["reason"] == "already_referred"
    assert second["referral"]["id"] == first["referral"]["id"]
    assert second["referral"]["promoter_id"] == ada["id"]
    assert "first referral stands" in second["message"]
    assert second["rewards"] == []
    assert {r["code"] for r in second["explanation"]["rules"]} == {"already_referred"}
    assert await count_rows(db, "referrals", tenant.workspace_id) == 1
    assert await count_rows(db, "leads", tenant.workspace_id) == 2
    listed = await kit.get(f"/v1/leads?status=already_referred&promoter_id={cy['id']}")
    assert [x["id"] for x in listed["data"]] == [second["id"]]
    listed = await kit.get(f"/v1/leads?customer_id={first['customer_id']}")
    assert listed["data"] == [second, first]  # lists show what the single reads show
    refs = await kit.get(f"/v1/referrals?promoter_id={ada['id']}")
    assert [x["id"] for x in refs["data"]] == [first["referral"]["id"]]


async def test_self_referral_is_refused_with_a_reason_and_recorded(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, trigger="lead", reward={"type": "fixed", "amount": "5"})
    me = await kit.post("/v1/customers", {"source_id": "me", "email": "Me@Example.com"}, 201)
    own = await kit.promoter(program, customer_id=me["id"])
    by_email = await kit.promoter(program, email="me@example.COM")
    for promoter, customer in (
        (own, {"id": me["id"]}),
        (by_email, {"source_id": "me-again", "email": "me@example.com"}),
    ):
        lead = await kit.post("/v1/leads", {"customer": customer, "code": code_of(promoter)}, 201)
        assert lead["status"] == "refused"
        assert lead["reason"] == "self_referral"
        assert lead["message"].startswith("self-referral")
        assert lead["referral"] is None
        assert lead["rewards"] == []
        assert [r["code"] for r in lead["explanation"]["rules"]] == ["self_referral"]
    assert await count_rows(db, "referrals", tenant.workspace_id) == 0
    assert await count_rows(db, "rewards", tenant.workspace_id) == 0
    assert await count_rows(db, "leads", tenant.workspace_id) == 2


async def test_a_click_attributes_within_the_window_only(
    client: AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program(attribution_window_days=7)
    ada = await kit.promoter(program)
    r = await client.get(f"/r/{code_of(ada)}?utm_source=blog")
    click_id = dict(x.split("=") for x in r.headers["location"].split("?")[1].split("&"))[
        "gw_click"
    ]
    clock.advance(days=7)
    inside = await kit.post(
        "/v1/leads", {"customer": {"source_id": "a"}, "click_id": click_id}, 201
    )
    assert inside["status"] == "referred"
    assert inside["click_id"] == click_id
    assert inside["referral"]["click_id"] == click_id
    clock.advance(milliseconds=1)
    late = await kit.post("/v1/leads", {"customer": {"source_id": "b"}, "click_id": click_id}, 201)
    assert (late["status"], late["reason"]) == ("refused", "attribution_expired")


async def test_bad_leads_name_the_field_and_write_nothing(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    other = Kit(client, other_tenant)
    their = await other.promoter(await other.program())
    code = code_of(ada)
    cases = [
        ({"customer": {"source_id": "x"}}, 422, "code"),
        (
            {"customer": {"source_id": "x"}, "code": code, "link_id": ada["default_link"]["id"]},
            422,
            "link_id",
        ),
        ({"customer": {}, "code": code}, 422, "customer"),
        ({"customer": {"id": str(uuid.uuid4()), "email": "a@b.co"}, "code": code}, 422, "customer"),
        ({"customer": {"id": str(uuid.uuid4())}, "code": code}, 404, "customer.id"),
        ({"customer": {"source_id": "x"}, "code": "unknown-code"}, 404, "code"),
        ({"customer": {"source_id": "x"}, "code": code_of(their)}, 404, "code"),
        ({"customer": {"source_id": "x"}, "link_id": str(uuid.uuid4())}, 404, "link_id"),
        ({"customer": {"source_id": "x"}, "click_id": str(uuid.uuid4())}, 404, "click_id"),
        ({"customer": {"source_id": "x", "email": "bad"}, "code": code}, 422, "customer.email"),
    ]
    for body, status, param in cases:
        r = await client.post("/v1/leads", json=body, headers=tenant.headers)
        assert (r.status_code, error_of(r).get("param")) == (status, param), (body, r.text)
    for table in ("customers", "leads", "referrals", "events"):
        assert await count_rows(db, table, tenant.workspace_id) == 0, table
    lead = await kit.post("/v1/leads", {"customer": {"source_id": "x"}, "code": code}, 201)
    for path in (f"/v1/leads/{lead['id']}", f"/v1/referrals/{lead['referral']['id']}"):
        assert (await client.get(path, headers=other_tenant.headers)).status_code == 404
    for path in ("/v1/leads", "/v1/referrals"):
        assert (await client.get(path, headers=other_tenant.headers)).json()["data"] == []
