from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import msgspec
import pytest
from httpx import AsyncClient
from sqlalchemy import text

from goodwill.db import Database
from goodwill.purchases import service as purchases_service
from goodwill.purchases.schemas import PurchaseCreate
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.kit import Kit, code_of, events_of

# Seed 000's example payload, verbatim.
SEED_000_EXAMPLE = """{
"id": "fbae5207-0cc7-4a42-8dd3-b58aa6a44f8c",
"time": "2026-04-06T06:23:54.991Z",
"specversion": "1.0",
"datacontenttype": "application/json",
"program_id": "930433e7-591c-4dda-a300-d3bfe17bd03d",
"promoter_id": "c06d4f0f-ccfb-4d6e-8bed-eea28460b698",
"source": "urn:POST:/purchases",
"type": "in.org.quicko.cliq.purchase.created",
"data": {
"@entity": "in.org.quicko.cliq.purchase",
"trigger_type": "purchase",
"purchase_id": "9aafd54c-03f5-40c0-8dba-df50e974e731",
"contact_id": "6a3e05ae-a0c1-4d09-9d8c-112929601246",
"promoter_id": "c06d4f0f-ccfb-4d6e-8bed-eea28460b698",
"link_id": "92f75eee-ecc8-47c4-87d9-dea983114fef",
"item_id": "item1",
"amount": 420,
"created_at": "2026-04-06T06:23:54.793Z",
"updated_at": "2026-04-06T06:23:54.793Z",
"utm_params": {
"utm_id": "email_apr_newsletter",
"utm_source": "newsletter",
"utm_medium": "email",
"utm_campaign": "product_update_april",
"utm_term": "existing_users",
"utm_content": "cta_button_top"
}
},
"subject": "9aafd54c-03f5-40c0-8dba-df50e974e731"
}"""


async def _setup(kit: Kit, currency: str = "EUR") -> tuple[dict[str, Any], dict[str, Any]]:
    program = await kit.program(currency)
    await kit.rule(program, reward={"type": "percentage", "percent": "10"})
    await kit.rule(program, reward={"type": "fixed", "amount": "5"}, hold_days=30)
    return program, await kit.promoter(program)


async def test_a_replay_answers_the_first_result_and_another_body_is_a_conflict(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    _, ada = await _setup(kit)
    body = {
        "external_id": "order-1",
        "customer": {"source_id": "bob"},
        "amount": "50.00",
        "code": code_of(ada),
    }
    first = await kit.purchase(**body)
    assert len(first["rewards"]) == 2
    clock.advance(minutes=5)
    again = await kit.purchase(expect=200, **{**body, "amount": "50"})  # the same amount
    assert again == first
    counts = {
        t: await count_rows(db, t, tenant.workspace_id)
        for t in ("purchases", "rewards", "ledger_entries", "events", "referrals", "customers")
    }
    r = await kit.purchase_response(**{**body, "amount": "51.00"})
    assert r.status_code == 409
    assert error_of(r)["param"] == "external_id"
    r = await kit.purchase_response(**{**body, "customer": {"source_id": "eve"}})
    assert r.status_code == 409
    for table, n in counts.items():
        assert await count_rows(db, table, tenant.workspace_id) == n, table


@pytest.mark.parametrize("kept", [32, 16])
async def test_a_purchase_stored_with_more_of_its_fingerprint_still_knows_its_replays(
    client: AsyncClient, tenant: Tenant, db: Database, kept: int
) -> None:
    # Purchases stored before 2026-12-04 kept the SHA-256's 32 bytes, those stored until
    # 2026-12-07 16; new ones keep 8.
    assert purchases_service.STORED_FINGERPRINT == 8
    kit = Kit(client, tenant)
    body = {
        "external_id": "order-1",
        "customer": {"source_id": "bob"},
        "amount": "50.00",
        "currency": "EUR",
    }
    first = await kit.purchase(**body)
    whole = purchases_service._fingerprint(msgspec.convert(body, PurchaseCreate), 5000, [])
    w = tenant.workspace_id
    where = {"w": w if db.dialect == "postgresql" else w.bytes, "x": "order-1"}
    select = "SELECT fingerprint FROM purchases WHERE workspace_id = :w AND external_id = :x"
    async with db.transaction() as session:
        stored = (await session.execute(text(select), where)).scalar_one()
        assert bytes(stored) == whole[: purchases_service.STORED_FINGERPRINT]
        await session.execute(
            text(
                "UPDATE purchases SET fingerprint = :f WHERE workspace_id = :w AND external_id = :x"
            ),
            {**where, "f": whole[:kept]},
        )
    assert await kit.purchase(expect=200, **body) == first
    r = await kit.purchase_response(**{**body, "amount": "51.00"})
    assert r.status_code == 409
    assert error_of(r)["param"] == "external_id"


async def test_a_replay_leaves_the_customer_it_names_as_it_is(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    body = {
        "external_id": "order-1",
        "customer": {"source_id": "bob", "email": "bob@old.example", "metadata": {"tier": "a"}},
        "amount": "50.00",
    }
    first = await kit.purchase(**body)
    url = f"/v1/customers/{first['customer_id']}"
    r = await client.patch(
        url, json={"email": "bob@new.example", "metadata": {"tier": "b"}}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    edited = await kit.get(url)
    assert await kit.purchase(expect=200, **body) == first  # a late retry of the first request
    assert await kit.get(url) == edited  # not put back to what the first request said


async def test_concurrent_submissions_of_one_purchase_make_one(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    _, ada = await _setup(kit)
    body = {
        "external_id": "race",
        "customer": {"source_id": "racer", "email": "r@example.com"},
        "amount": "80.00",
        "code": code_of(ada),
    }
    responses = await asyncio.gather(*(kit.purchase_response(**body) for _ in range(50)))
    assert sorted(r.status_code for r in responses) == [200] * 49 + [201]
    assert len({r.content for r in responses}) == 1  # byte for byte the first answer
    assert await count_rows(db, "purchases", tenant.workspace_id) == 1
    assert await count_rows(db, "customers", tenant.workspace_id) == 1
    assert await count_rows(db, "referrals", tenant.workspace_id) == 1
    assert await count_rows(db, "rewards", tenant.workspace_id) == 2
    assert await count_rows(db, "ledger_entries", tenant.workspace_id) == 0  # rewards are earned
    types = [e.type for e in await events_of(db, tenant)]
    for type in ("customer.created", "referral.created", "purchase.created"):
        assert types.count(type) == 1, type
    assert types.count("reward.created") == 2


async def test_bad_purchases_name_the_field_and_write_nothing(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    _, ada = await _setup(kit)
    theirs = await Kit(client, other_tenant).post(
        "/v1/products", {"sku": "t", "name": "T", "price": 1, "currency": "EUR"}, 201
    )
    good = {"external_id": "x", "customer": {"source_id": "c"}, "amount": "10.00"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "amount": "-1"}, 422, "amount"),
        ({**good, "amount": "10.001"}, 422, "amount"),
        ({**good, "amount": "ten"}, 422, "amount"),
        ({**good, "amount": "1e20"}, 422, "amount"),
        ({**good, "amount": "10000000000000.01"}, 422, "amount"),
        ({**good, "currency": "EURO"}, 422, "currency"),
        ({**good, "currency": "XXX"}, 422, "currency"),
        ({**good, "external_id": ""}, 422, "external_id"),
        ({**good, "customer": {"source_id": "c", "id": str(uuid.uuid4())}}, 422, "customer"),
        ({**good, "items": [{"quantity": 1}]}, 422, "items[0]"),
        ({**good, "items": [{"item_id": "a", "quantity": 0}]}, 422, "items[0].quantity"),
        ({**good, "items": [{"item_id": "a", "amount": "1.005"}]}, 422, "items[0].amount"),
        ({**good, "items": [{"product_id": str(uuid.uuid4())}]}, 404, "items[0].product_id"),
        ({**good, "items": [{"product_id": theirs["id"]}]}, 404, "items[0].product_id"),
        ({**good, "utm_params": {"utm_source": ""}}, 422, "utm_params.utm_source"),
        ({**good, "occurred_at": "yesterday"}, 422, "occurred_at"),
        ({**good, "occurred_at": "9999-12-31T23:59:59-05:00"}, 422, "occurred_at"),  # UTC: 10000
        ({**good, "occurred_at": "0001-01-01T00:00:00+05:00"}, 422, "occurred_at"),  # UTC: year 0
        ({**good, "code": code_of(ada), "click_id": str(uuid.uuid4())}, 422, "click_id"),
        ({**good, "code": "missing-code"}, 404, "code"),
        ({**good, "link_id": str(uuid.uuid4())}, 404, "link_id"),
        ({**good, "refund": True}, 422, "refund"),
    ]
    for body, status, param in cases:
        body.setdefault("currency", "EUR")
        r = await client.post("/v1/purchases", json=body, headers=tenant.headers)
        assert (r.status_code, error_of(r).get("param")) == (status, param), (body, r.text)
    for table in ("customers", "purchases", "rewards", "referrals", "events", "ledger_entries"):
        assert await count_rows(db, table, tenant.workspace_id) == 0, table


async def test_times_at_the_ends_of_the_calendar_keep_four_digit_years(
    client: AsyncClient, tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    for external_id, given, shown in (
        ("early", "0001-01-01T06:00:00-05:00", "0001-01-01T11:00:00.000Z"),
        ("late", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ):
        bought = await kit.purchase(external_id=external_id, amount="1", occurred_at=given)
        assert bought["occurred_at"] == shown
        assert (await kit.get(f"/v1/purchases/{bought['id']}"))["occurred_at"] == shown


async def test_zero_and_three_decimal_currencies(client: AsyncClient, tenant: Tenant) -> None:
    kit = Kit(client, tenant)
    for currency, amount, refused, reward in (
        ("JPY", "1005", "1005.5", 100),  # 10% of 1005 yen: 100.5 → 100
        ("KWD", "1.005", "1.0005", 0.1),  # 10% of 1.005: 0.1005 → 0.100 (3 places)
        ("BHD", "1.015", "1.0151", 0.102),  # 10% of 1.015: 0.1015 → 0.102 (half-even)
    ):
        program = await kit.program(currency)
        await kit.rule(program, reward={"type": "percentage", "percent": "10"})
        promoter = await kit.promoter(program)
        bought = await kit.purchase(
            external_id=f"{currency}-1",
            customer={"source_id": f"c-{currency}"},
            currency=currency,
            amount=amount,
            code=code_of(promoter),
        )
        assert str(bought["amount"]) == amount or bought["amount"] == float(amount)
        assert [r["amount"] for r in bought["rewards"]] == [reward]
        r = await kit.purchase_response(
            external_id=f"{currency}-2", currency=currency, amount=refused
        )
        assert r.status_code == 422
        assert error_of(r)["param"] == "amount"
    jpy = await kit.get("/v1/purchases?external_id=JPY-1")
    assert jpy["data"][0]["amount"] == 1005
    assert (
        '"amount":1005,'
        in (await client.get(f"/v1/purchases/{jpy['data'][0]['id']}", headers=tenant.headers)).text
    )


async def test_attribution_by_link_click_or_referral_and_the_explanations(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program, ada = await _setup(kit)
    by_link = await kit.purchase(
        external_id="a", customer={"source_id": "a"}, amount="10", link_id=ada["default_link"]["id"]
    )
    assert by_link["explanation"]["attribution"]["via"] == "link_id"
    r = await client.get(f"/r/{code_of(ada)}?utm_source=news&utm_campaign=spring")
    click_id = r.headers["location"].rsplit("gw_click=", 1)[1]
    by_click = await kit.purchase(
        external_id="b", customer={"source_id": "b"}, amount="10", click_id=click_id
    )
    assert by_click["click_id"] == click_id
    assert by_click["utm_params"] == {"utm_source": "news", "utm_campaign": "spring"}
    none = await kit.purchase(external_id="c", customer={"source_id": "nobody"}, amount="10")
    assert none["promoter_id"] is None
    assert none["rewards"] == []
    assert none["explanation"] == {
        "attribution": {
            "status": "none",
            "via": None,
            "program_id": None,
            "promoter_id": None,
            "referral_id": None,
            "code": None,
            "message": "no attribution was given and the customer has no referral",
        },
        "rules": [],
    }
    # self-referral on a purchase: recorded, unattributed, every rule says why
    me = await kit.post("/v1/customers", {"source_id": "me"}, 201)
    mine = await kit.promoter(program, customer_id=me["id"])
    selfish = await kit.purchase(
        external_id="d", customer={"id": me["id"]}, amount="10", code=code_of(mine)
    )
    assert selfish["promoter_id"] is None
    assert selfish["referral_id"] is None
    assert {r["code"] for r in selfish["explanation"]["rules"]} == {"self_referral"}
    # another currency than the program's
    other = await kit.purchase(
        external_id="e", customer={"source_id": "a"}, amount="10", currency="USD"
    )
    assert other["promoter_id"] == ada["id"]
    assert {r["code"] for r in other["explanation"]["rules"]} == {"currency_mismatch"}
    # a paused program records the purchase but grants nothing
    await client.patch(
        f"/v1/programs/{program['id']}", json={"status": "paused"}, headers=tenant.headers
    )
    paused = await kit.purchase(external_id="f", customer={"source_id": "a"}, amount="10")
    assert paused["promoter_id"] == ada["id"]
    assert paused["rewards"] == []
    assert {r["code"] for r in paused["explanation"]["rules"]} == {"program_paused"}
    got = await kit.get(f"/v1/purchases/{paused['id']}")
    assert got["explanation"] == paused["explanation"]
    listed = await kit.get(f"/v1/purchases?promoter_id={ada['id']}")
    assert [p["external_id"] for p in listed["data"]] == ["f", "e", "b", "a"]
    assert listed["data"][3]["rewards"] == by_link["rewards"]


async def test_items_and_product_conditions(client: AsyncClient, tenant: Tenant) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    mug = await kit.post(
        "/v1/products", {"sku": "mug", "name": "Mug", "price": "9", "currency": "EUR"}, 201
    )
    rule = await kit.rule(
        program,
        reward={"type": "fixed", "amount": "2"},
        conditions={"field": "item_ids", "op": "contains", "value": "mug"},
    )
    ada = await kit.promoter(program)
    bought = await kit.purchase(
        external_id="p1",
        customer={"source_id": "p"},
        amount="12",
        code=code_of(ada),
        items=[
            {"product_id": mug["id"], "quantity": 1, "amount": "9.00"},
            {"item_id": "gift-wrap", "quantity": 2},
        ],
    )
    assert bought["items"] == [
        {"product_id": mug["id"], "item_id": "mug", "quantity": 1, "amount": 9},
        {"product_id": None, "item_id": "gift-wrap", "quantity": 2, "amount": None},
    ]
    assert bought["explanation"]["rules"][0]["rule_id"] == rule["id"]
    assert bought["explanation"]["rules"][0]["fired"] is True
    by_sku = await kit.purchase(
        external_id="p2", customer={"source_id": "p"}, amount="1", items=[{"item_id": "mug"}]
    )
    assert by_sku["items"][0]["product_id"] == mug["id"]  # the sku names the catalog product


async def test_purchase_created_is_seed_000s_event(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program, ada = await _setup(kit)
    utm = {
        "utm_id": "email_apr_newsletter",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "product_update_april",
        "utm_term": "existing_users",
        "utm_content": "cta_button_top",
    }
    bought = await kit.purchase(
        external_id="seed",
        customer={"source_id": "contact"},
        amount="420.00",
        code=code_of(ada),
        items=[{"item_id": "item1"}],
        utm_params=utm,
    )
    [event] = await events_of(db, tenant, "purchase.created")
    seed = _seed_000_example()
    assert list(event.data) == list(seed["data"])  # the same fields, in the seed's order
    assert event.data["utm_params"] == seed["data"]["utm_params"]
    assert event.data == {
        "@entity": "goodwill.purchase",
        "trigger_type": "purchase",
        "purchase_id": bought["id"],
        "contact_id": bought["customer_id"],
        "promoter_id": ada["id"],
        "link_id": ada["default_link"]["id"],
        "item_id": "item1",
        "amount": 420,
        "created_at": "2026-04-06T06:23:54.793Z",
        "updated_at": "2026-04-06T06:23:54.793Z",
        "utm_params": utm,
    }
    assert event.source == "urn:POST:/purchases"
    assert event.subject == bought["id"]
    assert event.attributes == {"program_id": program["id"], "promoter_id": ada["id"]}
    # without UTM and attribution: no utm_params, null ids; a fraction stays exact
    await kit.purchase(external_id="plain", customer={"source_id": "z"}, amount="12.50")
    plain = (await events_of(db, tenant, "purchase.created"))[1]
    assert "utm_params" not in plain.data
    assert (plain.data["promoter_id"], plain.data["link_id"], plain.data["item_id"]) == (
        None,
        None,
        None,
    )
    assert plain.data["amount"] == 12.5
    assert plain.attributes == {}


def _seed_000_example() -> dict[str, Any]:
    return dict(json.loads(SEED_000_EXAMPLE))


async def test_another_workspace_sees_no_purchase(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    kit = Kit(client, tenant)
    _, ada = await _setup(kit)
    bought = await kit.purchase(
        external_id="mine", customer={"source_id": "a"}, amount="10", code=code_of(ada)
    )
    for method, path in (
        ("GET", f"/v1/purchases/{bought['id']}"),
        ("POST", f"/v1/purchases/{bought['id']}/refunds"),
        ("GET", f"/v1/rewards/{bought['rewards'][0]['id']}"),
        ("POST", f"/v1/rewards/{bought['rewards'][0]['id']}/approve"),
    ):
        r = await client.request(
            method, path, json={} if method == "POST" else None, headers=other_tenant.headers
        )
        assert r.status_code == 404, (path, r.text)
    for path in ("/v1/purchases", "/v1/purchases?external_id=mine", "/v1/rewards"):
        assert (await client.get(path, headers=other_tenant.headers)).json()["data"] == []
    # the same external_id is free in another workspace
    other = Kit(client, other_tenant)
    assert (await other.purchase(external_id="mine", amount="10"))["id"] != bought["id"]
