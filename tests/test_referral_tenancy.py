"""Another workspace's key learns nothing about a referral program: every route by id answers
exactly as for an id that exists nowhere, and every list is empty."""

from __future__ import annotations

import uuid

from httpx import AsyncClient

from tests.conftest import Tenant, error_of
from tests.kit import Kit, code_of


async def test_every_referral_route_is_tenant_scoped(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    rule = await kit.rule(program, reward={"type": "fixed", "amount": "1"})
    ada = await kit.promoter(program, external_id="ada", email="ada@example.com")
    r = await client.get(f"/r/{code_of(ada)}")
    click_id = r.headers["location"].rsplit("gw_click=", 1)[1]
    lead = await kit.post(
        "/v1/leads", {"customer": {"source_id": "bob"}, "click_id": click_id}, 201
    )
    bought = await kit.purchase(external_id="o1", customer={"source_id": "bob"}, amount="10")
    refund = await kit.refund(bought["id"], amount="1")
    run = await kit.post("/v1/payouts", {"promoter_id": ada["id"]}, 201)
    ids = {
        "program": program["id"],
        "rule": rule["id"],
        "promoter": ada["id"],
        "link": ada["default_link"]["id"],
        "click": click_id,
        "lead": lead["id"],
        "referral": lead["referral"]["id"],
        "purchase": bought["id"],
        "reward": bought["rewards"][0]["id"],
        "payout": run["data"][0]["id"],
    }
    assert refund["refund"]["id"]

    def routes(i: dict[str, str]) -> list[tuple[str, str, dict | None]]:  # type: ignore[type-arg]
        rules_path = f"/v1/programs/{i['program']}/rules"
        return [
            ("GET", f"{rules_path}/{i['rule']}", None),
            ("PATCH", f"{rules_path}/{i['rule']}", {"name": "x"}),
            ("GET", rules_path, None),
            (
                "POST",
                rules_path,
                {"name": "x", "trigger": "lead", "reward": {"type": "points", "points": 1}},
            ),
            ("POST", f"/v1/programs/{i['program']}/promoters", {"name": "x"}),
            ("GET", f"/v1/promoters/{i['promoter']}", None),
            ("GET", f"/v1/links/{i['link']}", None),
            ("GET", f"/v1/clicks/{i['click']}", None),
            ("GET", f"/v1/leads/{i['lead']}", None),
            ("GET", f"/v1/referrals/{i['referral']}", None),
            ("GET", f"/v1/purchases/{i['purchase']}", None),
            ("POST", f"/v1/purchases/{i['purchase']}/refunds", {"amount": "1"}),
            ("GET", f"/v1/rewards/{i['reward']}", None),
            ("POST", f"/v1/rewards/{i['reward']}/approve", {}),
            ("POST", f"/v1/rewards/{i['reward']}/void", {"reason": "x"}),
            ("GET", f"/v1/payouts/{i['payout']}", None),
            ("GET", f"/v1/payouts/{i['payout']}/export", None),
        ]

    nowhere = {name: str(uuid.uuid4()) for name in ids}
    for (method, path, body), (_, missing, _) in zip(routes(ids), routes(nowhere), strict=True):
        theirs = await client.request(method, path, json=body, headers=other_tenant.headers)
        none = await client.request(method, missing, json=body, headers=other_tenant.headers)
        assert theirs.status_code == none.status_code == 404, (method, path, theirs.text)
        assert error_of(theirs)["code"] == error_of(none)["code"] == "not_found"
    # references in bodies are another workspace's objects too: the same 404 as nowhere
    for path, body, param in (
        ("/v1/links", {"promoter_id": ada["id"]}, "promoter_id"),
        ("/v1/leads", {"customer": {"source_id": "x"}, "code": code_of(ada)}, "code"),
        ("/v1/leads", {"customer": {"source_id": "x"}, "link_id": ids["link"]}, "link_id"),
        ("/v1/leads", {"customer": {"source_id": "x"}, "click_id": click_id}, "click_id"),
        ("/v1/payouts", {"promoter_id": ada["id"]}, "promoter_id"),
        ("/v1/payouts", {"program_id": program["id"]}, "program_id"),
        ("/v1/payouts", {"customer_id": bought["customer_id"]}, "customer_id"),
        (
            "/v1/purchases",
            {
                "external_id": "x",
                "customer": {"id": bought["customer_id"]},
                "amount": "1",
                "currency": "EUR",
            },
            "customer.id",
        ),
    ):
        r = await client.post(path, json=body, headers=other_tenant.headers)
        assert (r.status_code, error_of(r).get("param")) == (404, param), (path, r.text)
    for path in (
        "/v1/promoters",
        f"/v1/promoters?program_id={program['id']}",
        "/v1/promoters?external_id=ada",
        "/v1/links",
        f"/v1/links?code={code_of(ada)}",
        "/v1/clicks",
        "/v1/leads",
        "/v1/referrals",
        "/v1/purchases",
        "/v1/purchases?external_id=o1",
        "/v1/rewards",
        f"/v1/rewards?promoter_id={ada['id']}",
        "/v1/payouts",
    ):
        r = await client.get(path, headers=other_tenant.headers)
        assert r.status_code == 200, path
        assert r.json()["data"] == [], path
    export = await client.get("/v1/rewards/export", headers=other_tenant.headers)
    assert export.text.count("\n") == 1  # the header only
    # and the owner still sees everything, unchanged by the other workspace's attempts
    assert (await kit.get(f"/v1/rewards/{ids['reward']}"))["status"] == "paid"
