"""Cards and redemptions through the API: balances, idempotency, refusals, reversals, races."""

from __future__ import annotations

import asyncio
import uuid

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.loyalty.helpers import SOURCE, make_customer, make_program, purchase, record_purchase

STAMPS = {"stamps_required": 3, "reward": {"description": "A free coffee", "value": "2.50"}}
POINTS = {"earning_rules": [{"trigger": "purchase", "points_per_unit": "1"}], "pending_days": 7}


async def _buy(
    db: Database, tenant: Tenant, clock: FakeClock, customer_id: uuid.UUID, *amounts: str
) -> None:
    async with db.transaction() as session:
        for amount in amounts:
            p = purchase(customer_id, amount, occurred_at=clock())
            await record_purchase(session, tenant.workspace_id, p, now=clock(), source=SOURCE)


async def _nothing_more(db: Database, tenant: Tenant, before: dict[str, int]) -> None:
    for table, n in before.items():
        assert await count_rows(db, table, tenant.workspace_id) == n, table


async def _counts(db: Database, tenant: Tenant) -> dict[str, int]:
    tables = ("redemptions", "loyalty_cards", "events", "points_entries", "qualifying_purchases")
    return {t: await count_rows(db, t, tenant.workspace_id) for t in tables}


async def test_stamp_card_redeem_and_reverse(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "stamps", STAMPS, now=clock())
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    await _buy(db, tenant, clock, customer.id, "3.00", "3.10", "3.20", "3.30")
    card_url = f"/v1/programs/{program.id}/cards/{customer.id}"
    card = (await client.get(card_url, headers=tenant.headers)).json()
    assert card["stamps"] == {
        "required": 3,
        "collected": 4,
        "available": 4,
        "redeemed": 0,
        "voided": 0,
        "rewards_available": 1,
        "reward": {"description": "A free coffee", "value": "2.50"},
    }
    assert card["points"] is None
    assert card["object"] == "loyalty_card"
    assert len(card["code"]) == 12
    by_code = await client.get(f"/v1/loyalty-cards/{card['code']}", headers=tenant.headers)
    assert by_code.json() == card

    body = {
        "program_id": str(program.id),
        "customer": {"source_id": "cust-1"},
        "external_id": "o-1",
    }
    clock.advance(minutes=5)
    r = await client.post("/v1/redemptions", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    redemption = r.json()
    assert redemption["stamps"] == 3
    assert redemption["points"] is None
    assert redemption["status"] == "completed"
    assert redemption["reward"] == {"description": "A free coffee", "value": "2.50"}
    assert redemption["created_at"] == "2026-04-06T06:28:54.793Z"
    assert len(redemption["qualifying_purchase_ids"]) == 3

    replay = await client.post("/v1/redemptions", json=body, headers=tenant.headers)
    assert replay.status_code == 200
    assert replay.json() == redemption
    before = await _counts(db, tenant)
    other = await client.post("/v1/redemptions", json={**body, "stamps": 1}, headers=tenant.headers)
    assert other.status_code == 409
    assert error_of(other)["param"] == "external_id"
    short = await client.post(
        "/v1/redemptions", json={**body, "external_id": "o-2"}, headers=tenant.headers
    )
    assert short.status_code == 409
    assert error_of(short)["code"] == "insufficient_balance"
    assert error_of(short)["message"] == "Not enough stamps: the card has 1 available, 3 requested"
    assert error_of(short)["param"] == "stamps"
    await _nothing_more(db, tenant, before)

    card = (await client.get(card_url, headers=tenant.headers)).json()
    assert (card["stamps"]["available"], card["stamps"]["redeemed"]) == (1, 3)
    got = await client.get(f"/v1/redemptions/{redemption['id']}", headers=tenant.headers)
    assert got.json() == redemption

    rev = await client.post(f"/v1/redemptions/{redemption['id']}/reversal", headers=tenant.headers)
    assert rev.status_code == 200, rev.text
    assert rev.json()["status"] == "reversed"
    assert rev.json()["reversed_at"] == "2026-04-06T06:28:54.793Z"
    before = await _counts(db, tenant)
    twice = await client.post(
        f"/v1/redemptions/{redemption['id']}/reversal", headers=tenant.headers
    )
    assert twice.status_code == 409
    assert error_of(twice)["code"] == "already_reversed"
    await _nothing_more(db, tenant, before)
    card = (await client.get(card_url, headers=tenant.headers)).json()
    assert (card["stamps"]["available"], card["stamps"]["redeemed"]) == (4, 0)

    stamps = await client.get(
        f"/v1/qualifying-purchases?program_id={program.id}&status=unredeemed",
        headers=tenant.headers,
    )
    assert sorted(q["id"] for q in stamps.json()["data"]) == sorted(
        redemption["qualifying_purchase_ids"]
    )
    listed = await client.get(
        f"/v1/redemptions?customer_id={customer.id}&status=reversed", headers=tenant.headers
    )
    assert [x["id"] for x in listed.json()["data"]] == [redemption["id"]]
    assert (await client.get("/v1/redemptions?status=completed", headers=tenant.headers)).json()[
        "data"
    ] == []


async def test_points_card_redeem_and_the_balance_in_the_refusal(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    await _buy(db, tenant, clock, customer.id, "50.00")
    clock.advance(days=7)
    await _buy(db, tenant, clock, customer.id, "20.00")
    card_url = f"/v1/programs/{program.id}/cards/{customer.id}"
    card = (await client.get(card_url, headers=tenant.headers)).json()
    assert card["points"] == {
        "pending": 20,
        "available": 50,
        "redeemed": 0,
        "expired": 0,
        "clawed_back": 0,
        "earned": 70,
    }
    body = {
        "program_id": str(program.id),
        "customer": {"id": str(customer.id)},
        "external_id": "p-1",
        "points": 60,
    }
    before = await _counts(db, tenant)
    r = await client.post("/v1/redemptions", json=body, headers=tenant.headers)
    assert r.status_code == 409
    assert error_of(r)["message"] == (
        "Not enough points: the card has 50 available (20 pending), 60 requested"
    )
    await _nothing_more(db, tenant, before)
    r = await client.post("/v1/redemptions", json={**body, "points": 45}, headers=tenant.headers)
    assert r.status_code == 201
    assert r.json()["points"] == 45
    entries = await client.get(
        f"/v1/points-entries?customer_id={customer.id}&kind=redeem", headers=tenant.headers
    )
    assert [(e["kind"], e["points"], e["redemption_id"]) for e in entries.json()["data"]] == [
        ("redeem", -45, r.json()["id"])
    ]
    card = (await client.get(card_url, headers=tenant.headers)).json()
    assert (card["points"]["available"], card["points"]["redeemed"]) == (5, 45)
    rev = await client.post(f"/v1/redemptions/{r.json()['id']}/reversal", headers=tenant.headers)
    assert rev.status_code == 200
    card = (await client.get(card_url, headers=tenant.headers)).json()
    assert (card["points"]["available"], card["points"]["redeemed"]) == (50, 0)
    page = await client.get("/v1/points-entries?limit=2", headers=tenant.headers)
    assert page.json()["has_more"] is True
    rest = await client.get(
        f"/v1/points-entries?limit=2&cursor={page.json()['next_cursor']}", headers=tenant.headers
    )
    assert len(page.json()["data"]) + len(rest.json()["data"]) == 4


async def test_two_concurrent_redemptions_that_exceed_the_balance(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    stamps = await make_program(db, tenant.workspace_id, "stamps", STAMPS, now=clock())
    pts = await make_program(
        db, tenant.workspace_id, "points", {**POINTS, "pending_days": 0}, now=clock()
    )
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    await _buy(db, tenant, clock, customer.id, *["10.00"] * 5)  # 5 stamps, 50 points
    for round_ in range(3):
        for program, amount in ((stamps, {"stamps": 3}), (pts, {"points": 30})):
            bodies = [
                {
                    "program_id": str(program.id),
                    "customer": {"source_id": "cust-1"},
                    "external_id": f"race-{program.kind}-{round_}-{n}",
                    **amount,
                }
                for n in range(2)
            ]
            responses = await asyncio.gather(
                *(client.post("/v1/redemptions", json=b, headers=tenant.headers) for b in bodies)
            )
            assert sorted(r.status_code for r in responses) == [201, 409], [
                r.text for r in responses
            ]
            won = next(r for r in responses if r.status_code == 201).json()
            rev = await client.post(f"/v1/redemptions/{won['id']}/reversal", headers=tenant.headers)
            assert rev.status_code == 200
    assert await count_rows(db, "redemptions", tenant.workspace_id) == 6


async def test_the_same_external_id_raced_redeems_once(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "stamps", STAMPS, now=clock())
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    await _buy(db, tenant, clock, customer.id, *["10.00"] * 9)
    body = {"program_id": str(program.id), "customer": {"source_id": "cust-1"}, "external_id": "x"}
    responses = await asyncio.gather(
        *(client.post("/v1/redemptions", json=body, headers=tenant.headers) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_rows(db, "redemptions", tenant.workspace_id) == 1


async def test_bad_redemptions_are_named_and_write_nothing(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    stamps = await make_program(db, tenant.workspace_id, "stamps", STAMPS, now=clock())
    pts = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    referral = await make_program(db, tenant.workspace_id, "referral", {}, now=clock())
    await make_customer(db, tenant.workspace_id, now=clock())
    ok = {"program_id": str(stamps.id), "customer": {"source_id": "cust-1"}, "external_id": "e"}
    cases: list[tuple[dict[str, object], int, str]] = [
        ({k: v for k, v in ok.items() if k != "program_id"}, 422, "program_id"),
        ({**ok, "program_id": "nope"}, 422, "program_id"),
        ({**ok, "program_id": str(uuid.uuid4())}, 404, "program_id"),
        ({**ok, "program_id": str(referral.id)}, 422, "program_id"),
        ({**ok, "customer": {}}, 422, "customer"),
        ({**ok, "customer": {"source_id": "ghost"}}, 404, "customer.source_id"),
        ({**ok, "customer": {"id": str(uuid.uuid4())}}, 404, "customer.id"),
        ({**ok, "external_id": ""}, 422, "external_id"),
        ({**ok, "stamps": 0}, 422, "stamps"),
        ({**ok, "points": 5}, 422, "points"),
        ({**ok, "program_id": str(pts.id)}, 422, "points"),
        ({**ok, "program_id": str(pts.id), "stamps": 1}, 422, "stamps"),
        ({**ok, "colour": "red"}, 422, "colour"),
        ({**ok, "stamps": 1}, 409, "stamps"),  # a card with no stamps
    ]
    before = await _counts(db, tenant)
    for body, status, param in cases:
        r = await client.post("/v1/redemptions", json=body, headers=tenant.headers)
        assert r.status_code == status, (body, r.text)
        assert error_of(r)["param"] == param, (body, r.text)
    await _nothing_more(db, tenant, before)
    r = await client.post(f"/v1/redemptions/{uuid.uuid4()}/reversal", headers=tenant.headers)
    assert r.status_code == 404
    r = await client.get(f"/v1/programs/{referral.id}/cards/{uuid.uuid4()}", headers=tenant.headers)
    assert r.status_code == 422
    r = await client.get(f"/v1/programs/{stamps.id}/cards/{uuid.uuid4()}", headers=tenant.headers)
    assert r.status_code == 404
    for code in ("nope", "x" * 500):
        r = await client.get(f"/v1/loyalty-cards/{code}", headers=tenant.headers)
        assert r.status_code == 404, (code, r.text)
        assert error_of(r)["param"] == "code"
    r = await client.get("/v1/loyalty-cards/a%00b", headers=tenant.headers)
    assert r.status_code == 422, r.text  # a NUL in any parameter (docs/api.md)
    assert error_of(r)["param"] == "code"
    for path, param, value in [
        ("/v1/redemptions", "status", "lost"),
        ("/v1/qualifying-purchases", "status", "lost"),
        ("/v1/points-entries", "kind", "gift"),
        ("/v1/redemptions", "program_id", "abc"),
        ("/v1/qualifying-purchases", "customer_id", "abc"),
        ("/v1/points-entries", "program_id", "abc"),
        ("/v1/points-entries", "limit", "0"),
    ]:
        r = await client.get(f"{path}?{param}={value}", headers=tenant.headers)
        assert r.status_code == 422, (path, param)
        assert error_of(r)["param"] == param, (path, r.text)
    await _nothing_more(db, tenant, before)


async def test_a_first_look_makes_the_card_once(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    url = f"/v1/programs/{program.id}/cards/{customer.id}"
    looks = await asyncio.gather(*(client.get(url, headers=tenant.headers) for _ in range(3)))
    assert {r.status_code for r in looks} == {200}
    assert len({r.json()["code"] for r in looks}) == 1
    assert looks[0].json()["points"]["earned"] == 0
    assert await count_rows(db, "loyalty_cards", tenant.workspace_id) == 1
    await _buy(db, tenant, clock, customer.id, "5.00")
    again = (await client.get(url, headers=tenant.headers)).json()
    assert again["code"] == looks[0].json()["code"]
    assert again["points"]["pending"] == 5


async def test_another_workspace_sees_none_of_it(
    client: AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "stamps", STAMPS, now=clock())
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    await _buy(db, tenant, clock, customer.id, "5.00", "5.00", "5.00")
    card = (
        await client.get(f"/v1/programs/{program.id}/cards/{customer.id}", headers=tenant.headers)
    ).json()
    redemption = (
        await client.post(
            "/v1/redemptions",
            json={
                "program_id": str(program.id),
                "customer": {"id": str(customer.id)},
                "external_id": "t",
            },
            headers=tenant.headers,
        )
    ).json()
    theirs = other_tenant.headers
    for path in (
        f"/v1/programs/{program.id}/cards/{customer.id}",
        f"/v1/loyalty-cards/{card['code']}",
        f"/v1/redemptions/{redemption['id']}",
    ):
        r = await client.get(path, headers=theirs)
        assert r.status_code == 404, path
        assert error_of(r)["code"] == "not_found"
    r = await client.post(f"/v1/redemptions/{redemption['id']}/reversal", headers=theirs)
    assert r.status_code == 404
    r = await client.post(
        "/v1/redemptions",
        json={
            "program_id": str(program.id),
            "customer": {"id": str(customer.id)},
            "external_id": "t",
        },
        headers=theirs,
    )
    assert r.status_code == 404
    for path in ("/v1/redemptions", "/v1/qualifying-purchases", "/v1/points-entries"):
        assert (await client.get(path, headers=theirs)).json()["data"] == [], path
    # the same external_id is free in the other workspace
    other_program = await make_program(db, other_tenant.workspace_id, "stamps", STAMPS, now=clock())
    other_customer = await make_customer(db, other_tenant.workspace_id, now=clock())
    await _buy(db, other_tenant, clock, other_customer.id, "5.00", "5.00", "5.00")
    r = await client.post(
        "/v1/redemptions",
        json={
            "program_id": str(other_program.id),
            "customer": {"source_id": "cust-1"},
            "external_id": "t",
        },
        headers=theirs,
    )
    assert r.status_code == 201
    assert r.json()["id"] != redemption["id"]


async def test_paused_programs_redeem_archived_ones_refuse(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "stamps", STAMPS, now=clock())
    customer = await make_customer(db, tenant.workspace_id, now=clock())
    await _buy(db, tenant, clock, customer.id, *["5.00"] * 6)
    body = {"program_id": str(program.id), "customer": {"source_id": "cust-1"}, "external_id": "a"}
    url = f"/v1/programs/{program.id}"
    await client.patch(url, json={"status": "paused"}, headers=tenant.headers)
    assert (
        await client.post("/v1/redemptions", json=body, headers=tenant.headers)
    ).status_code == 201
    await client.patch(url, json={"status": "archived"}, headers=tenant.headers)
    before = await _counts(db, tenant)
    r = await client.post(
        "/v1/redemptions", json={**body, "external_id": "b"}, headers=tenant.headers
    )
    assert r.status_code == 409
    assert error_of(r)["param"] == "program_id"
    await _nothing_more(db, tenant, before)
    # the first one still answers as before
    assert (
        await client.post("/v1/redemptions", json=body, headers=tenant.headers)
    ).status_code == 200
