"""POST /v1/events: the seed 003 body and answer, customers, loyalty cards and earning rules."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from sqlalchemy import select

from goodwill.db import Database
from goodwill.tracking.models import CustomEvent
from tests.conftest import FakeClock, Tenant, count_rows, error_of
from tests.loyalty.helpers import events_of, make_customer, make_program

SEED_REQUEST = {
    "event": "user_subscribed",
    "customer": {"source_id": "source_customer_event"},
    "referral": {"code": "46jL0kYI", "referrer_id": "cust_Vzck5i8U3OhcEUFY6MKhN9Rv"},
    "metadata": {"login": "bob", "pricing_plan": "PP1", "volume_number": 4},
}
POINTS = {
    "earning_rules": [
        {
            "trigger": "user_subscribed",
            "fixed_points": 50,
            "conditions": {"field": "event.metadata.pricing_plan", "op": "eq", "value": "PP1"},
        }
    ],
}


async def test_seed_003_request_and_answer(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    r = await client.post("/v1/events", json=SEED_REQUEST, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["object", "type", "customer", "referral", "loyalty", "metadata"]
    assert list(body["customer"]) == ["id", "name", "email", "source_id", "metadata", "object"]
    customer_id = body["customer"]["id"]
    uuid.UUID(customer_id)
    assert body == {
        "object": "event",
        "type": "user_subscribed",
        "customer": {
            "id": customer_id,
            "name": None,
            "email": None,
            "source_id": "source_customer_event",
            "metadata": {},
            "object": "customer",
        },
        # seed 003 types both as null ("a null referral object"), whatever the request named
        "referral": None,
        "loyalty": None,
        "metadata": {"login": "bob", "pricing_plan": "PP1", "volume_number": 4},
    }
    tracked = await events_of(db, tenant.workspace_id, "event.tracked")
    assert [e.data for e in tracked] == [body]
    assert tracked[0].source == "urn:POST:/events"
    async with db.transaction(write=False) as session:
        stored = (
            await session.scalars(
                select(CustomEvent).where(CustomEvent.workspace_id == tenant.workspace_id)
            )
        ).one()
    assert stored.referral == SEED_REQUEST["referral"]  # recorded, if not echoed

    # the seed's answer example: the same customer, now with a name, an email and metadata
    r = await client.post(
        "/v1/events",
        json={
            "event": "cart_abandoned",
            "customer": {
                "source_id": "source_customer_event",
                "name": "John Doe",
                "email": "john@voucherify.io",
                "metadata": {"prop": "value"},
            },
        },
        headers=tenant.headers,
    )
    assert r.json() == {
        "object": "event",
        "type": "cart_abandoned",
        "customer": {
            "id": customer_id,
            "name": "John Doe",
            "email": "john@voucherify.io",
            "source_id": "source_customer_event",
            "metadata": {"prop": "value"},
            "object": "customer",
        },
        "referral": None,
        "loyalty": None,
        "metadata": {},
    }
    assert await count_rows(db, "customers", tenant.workspace_id) == 1


async def test_events_earn_points_for_the_customer_or_the_named_card(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    first = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    second = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    r = await client.post("/v1/events", json=SEED_REQUEST, headers=tenant.headers)
    customer_id = r.json()["customer"]["id"]
    for program in (first, second):
        card = (
            await client.get(
                f"/v1/programs/{program.id}/cards/{customer_id}", headers=tenant.headers
            )
        ).json()
        assert card["points"]["available"] == 50
    earned = await events_of(db, tenant.workspace_id, "points.earned")
    assert len(earned) == 2
    assert (
        earned[0].data["custom_event_id"]
        == (await events_of(db, tenant.workspace_id, "event.tracked"))[0].subject
    )

    # conditions on the metadata
    other = {**SEED_REQUEST, "metadata": {**SEED_REQUEST["metadata"], "pricing_plan": "PP2"}}  # type: ignore[dict-item]
    await client.post("/v1/events", json=other, headers=tenant.headers)
    assert len(await events_of(db, tenant.workspace_id, "points.earned")) == 2

    # a named card: only its program earns
    card = (
        await client.get(f"/v1/programs/{second.id}/cards/{customer_id}", headers=tenant.headers)
    ).json()
    r = await client.post(
        "/v1/events",
        json={**SEED_REQUEST, "loyalty": {"code": card["code"]}},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["loyalty"] is None  # seed 003: always null
    balances = []
    for program in (first, second):
        got = await client.get(
            f"/v1/programs/{program.id}/cards/{customer_id}", headers=tenant.headers
        )
        balances.append(got.json()["points"]["available"])
    assert balances == [50, 100]


async def test_customer_by_id_and_card_checks(
    client: AsyncClient, db: Database, tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    ada = await make_customer(db, tenant.workspace_id, "ada", now=clock())
    bob = await make_customer(db, tenant.workspace_id, "bob", now=clock())
    bobs_card = (
        await client.get(f"/v1/programs/{program.id}/cards/{bob.id}", headers=tenant.headers)
    ).json()
    r = await client.post(
        "/v1/events",
        json={"event": "visited", "customer": {"id": str(ada.id), "name": "Ada"}},
        headers=tenant.headers,
    )
    assert r.status_code == 200
    assert r.json()["customer"]["name"] == "Ada"
    assert r.json()["customer"]["source_id"] == "ada"

    before = {
        t: await count_rows(db, t, tenant.workspace_id)
        for t in ("custom_events", "events", "points_entries")
    }
    r = await client.post(
        "/v1/events",
        json={
            **SEED_REQUEST,
            "customer": {"id": str(ada.id)},
            "loyalty": {"code": bobs_card["code"]},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "loyalty.code"
    r = await client.post(
        "/v1/events",
        json={**SEED_REQUEST, "loyalty": {"code": "no-such-card"}},
        headers=tenant.headers,
    )
    assert r.status_code == 404
    assert error_of(r)["param"] == "loyalty.code"
    r = await client.post(
        "/v1/events",
        json={"event": "x", "customer": {"id": str(ada.id), "source_id": "bob"}},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "customer.source_id"
    after = {t: await count_rows(db, t, tenant.workspace_id) for t in before}
    assert after == before


async def test_bad_events_are_named_and_write_nothing(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    cases = [
        ({**SEED_REQUEST, "event": ""}, "event"),
        ({**SEED_REQUEST, "event": "e" * 301}, "event"),
        ({k: v for k, v in SEED_REQUEST.items() if k != "event"}, "event"),
        ({k: v for k, v in SEED_REQUEST.items() if k != "customer"}, "customer"),
        ({**SEED_REQUEST, "customer": {}}, "customer"),
        ({**SEED_REQUEST, "customer": {"source_id": ""}}, "customer.source_id"),
        ({**SEED_REQUEST, "customer": {"id": "cust_ypePCF6IU6fnUvec6RMXZuH4"}}, "customer.id"),
        ({**SEED_REQUEST, "customer": {"id": str(uuid.uuid4())}}, "customer.id"),
        ({**SEED_REQUEST, "customer": {"source_id": "a", "email": "nope"}}, "customer.email"),
        ({**SEED_REQUEST, "metadata": [1]}, "metadata"),
        ({**SEED_REQUEST, "referral": {}}, "referral.code"),
        ({**SEED_REQUEST, "loyalty": {"code": ""}}, "loyalty.code"),
        ({**SEED_REQUEST, "colour": "red"}, "colour"),
    ]
    for body, param in cases:
        r = await client.post("/v1/events", json=body, headers=tenant.headers)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert error_of(r)["param"] == param, (body, r.text)
    e300 = await client.post(
        "/v1/events", json={**SEED_REQUEST, "event": "e" * 300}, headers=tenant.headers
    )
    assert e300.status_code == 200
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1
    assert await count_rows(db, "customers", tenant.workspace_id) == 1


async def test_idempotency_key_replays_the_event(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "evt-1"}
    first = await client.post("/v1/events", json=SEED_REQUEST, headers=headers)
    second = await client.post("/v1/events", json=SEED_REQUEST, headers=headers)
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1


async def test_an_unknown_referral_code_is_refused_and_writes_nothing(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    body = {**SEED_REQUEST, "referral": {"code": "nosuchcode"}}
    r = await client.post("/v1/events", json=body, headers=tenant.headers)
    assert r.status_code == 404
    assert r.json()["error"]["param"] == "referral.code"
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 0


async def test_another_workspaces_cards_and_customers_are_unknown(
    client: AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, clock: FakeClock
) -> None:
    program = await make_program(db, tenant.workspace_id, "points", POINTS, now=clock())
    ada = await make_customer(db, tenant.workspace_id, "ada", now=clock())
    card = (
        await client.get(f"/v1/programs/{program.id}/cards/{ada.id}", headers=tenant.headers)
    ).json()
    theirs = other_tenant.headers
    r = await client.post(
        "/v1/events",
        json={**SEED_REQUEST, "customer": {"source_id": "ada"}, "loyalty": {"code": card["code"]}},
        headers=theirs,
    )
    assert r.status_code == 404
    assert error_of(r)["param"] == "loyalty.code"
    r = await client.post(
        "/v1/events", json={**SEED_REQUEST, "customer": {"id": str(ada.id)}}, headers=theirs
    )
    assert r.status_code == 404
    assert error_of(r)["param"] == "customer.id"
    for table in ("custom_events", "customers", "events"):
        assert await count_rows(db, table, other_tenant.workspace_id) == 0, table
    # the same source_id in the other workspace is another customer, who earns nothing here
    # (and the referral code, which is this workspace's, is unknown there)
    without_referral = {k: v for k, v in SEED_REQUEST.items() if k != "referral"}
    r = await client.post("/v1/events", json=without_referral, headers=theirs)
    assert r.status_code == 200
    assert await count_rows(db, "points_entries", tenant.workspace_id) == 0
