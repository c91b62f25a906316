"""``record_conversion``: what the custom-event endpoint calls to fire referral rules."""

from __future__ import annotations

import uuid

import pytest
from httpx import AsyncClient

from goodwill.db import Database
from goodwill.errors import NotFound
from goodwill.referrals.service import record_conversion
from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of


async def test_a_custom_event_fires_its_rules_through_a_code_or_a_referrer(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    subscribed = await kit.rule(
        program,
        trigger="custom:user_subscribed",
        name="20 for a PP1 subscription, once",
        reward={"type": "fixed", "amount": "20"},
        conditions={"field": "event.metadata.pricing_plan", "op": "eq", "value": "PP1"},
        limits={"per_referral": 1},
    )
    friend_points = await kit.rule(
        program,
        trigger="custom:user_subscribed",
        reward={"type": "points", "points": 100},
        beneficiary="referred_customer",
    )
    referrer = await kit.post("/v1/customers", {"source_id": "cust_ada"}, 201)
    ada = await kit.promoter(program, customer_id=referrer["id"])
    bob = await kit.post("/v1/customers", {"source_id": "bob"}, 201)
    eve = await kit.post("/v1/customers", {"source_id": "eve"}, 201)

    async def convert(customer: dict, **kw: object):  # type: ignore[no-untyped-def]
        async with db.transaction() as session:
            return await record_conversion(
                session,
                tenant.workspace_id,
                customer_id=uuid.UUID(customer["id"]),
                event_name="user_subscribed",
                metadata={"pricing_plan": "PP1"},
                now=clock(),
                source="urn:POST:/events",
                event_type_prefix="goodwill",
                **kw,  # type: ignore[arg-type]
            )

    first = await convert(bob, code=code_of(ada))
    assert first.referral_created
    assert first.referral is not None
    assert str(first.referral.promoter_id) == ada["id"]
    assert [(r.unit, r.amount_minor, r.beneficiary) for r in first.rewards] == [
        ("EUR", 2000, "promoter"),
        ("points", 100, "referred_customer"),
    ]
    assert {r.source_type for r in first.rewards} == {"event"}
    assert {r.source_id for r in first.rewards} == {first.id}
    again = await convert(bob)  # the referral stands; the one-per-referral rule is spent
    assert not again.referral_created
    codes = {r["rule_id"]: r["code"] for r in again.explanation["rules"]}
    assert codes == {subscribed["id"]: "limit_reached", friend_points["id"]: "fired"}

    by_referrer = await convert(eve, referrer_id="cust_ada")
    assert by_referrer.referral is not None
    assert str(by_referrer.referral.promoter_id) == ada["id"]
    assert by_referrer.explanation["attribution"]["via"] == "referrer_id"
    by_id = await convert(
        await kit.post("/v1/customers", {"source_id": "zed"}, 201), referrer_id=referrer["id"]
    )
    assert by_id.referral is not None

    nobody = await convert(await kit.post("/v1/customers", {"source_id": "solo"}, 201))
    assert nobody.referral is None
    assert nobody.rewards == []
    assert nobody.explanation["attribution"]["status"] == "none"

    with pytest.raises(NotFound) as caught:
        await convert(bob, referrer_id="nobody")
    assert caught.value.param == "referrer_id"
    with pytest.raises(NotFound) as caught:
        await convert({"id": str(uuid.uuid4())})
    assert caught.value.param == "customer_id"
    with pytest.raises(NotFound) as caught:
        await convert(bob, code="no-such-code")
    assert caught.value.param == "code"
    rewards = await kit.get(f"/v1/rewards?promoter_id={ada['id']}&rule_id={subscribed['id']}")
    assert len(rewards["data"]) == 3  # bob, eve, zed: once per referral
