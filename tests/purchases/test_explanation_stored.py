"""A purchase's explanation is stored without what its row and rewards hold
(``goodwill.purchases.explained``) and reads back exactly as the purchase was answered."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update

from goodwill.db import Database
from goodwill.purchases import explained
from goodwill.purchases.models import Purchase
from goodwill.rules.models import RewardRule
from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of


async def _kept(db: Database, purchase_id: str) -> dict[str, Any]:
    async with db.transaction(write=False) as session:
        found = await session.scalar(
            select(Purchase.explanation).where(Purchase.id == uuid.UUID(purchase_id))
        )
    assert isinstance(found, dict)
    return found


async def test_every_kind_of_attribution_reads_back_as_answered(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, name="10%", reward={"type": "percentage", "percent": "10"}, hold_days=7)
    await kit.rule(
        program,
        name="First purchase",
        reward={"type": "points", "points": 50},
        conditions={"field": "purchase_number", "op": "eq", "value": 1},
    )
    await kit.rule(
        program,
        name="Friend gets 5",
        reward={"type": "fixed", "amount": "5.00"},
        beneficiary="referred_customer",
    )
    ada = await kit.promoter(program)
    bob = await kit.promoter(program, name="Bob")
    me = await kit.post("/v1/customers", {"source_id": "me"}, 201)
    mine = await kit.promoter(program, name="Me", customer_id=me["id"])
    click = await client.get(f"/r/{code_of(bob)}?utm_source=news")
    click_id = click.headers["location"].rsplit("gw_click=", 1)[1]

    answered = [
        await kit.purchase(
            external_id="link",
            customer={"source_id": "a"},
            amount="80.00",
            link_id=ada["default_link"]["id"],
        ),
        await kit.purchase(
            external_id="click", customer={"source_id": "b"}, amount="20.00", click_id=click_id
        ),
        # the customer's referral stands against another promoter's code: the message names
        # the purchase's promoter
        await kit.purchase(
            external_id="again", customer={"source_id": "a"}, amount="40.00", code=code_of(bob)
        ),
        await kit.purchase(external_id="none", customer={"source_id": "c"}, amount="10.00"),
        await kit.purchase(
            external_id="self", customer={"id": me["id"]}, amount="10.00", code=code_of(mine)
        ),
        await kit.purchase(
            external_id="usd", customer={"source_id": "a"}, amount="10.00", currency="USD"
        ),
    ]
    again = answered[2]["explanation"]
    assert again["attribution"]["status"] == "existing"
    assert ada["id"] in again["attribution"]["message"]
    assert [r["fired"] for r in answered[0]["explanation"]["rules"]] == [True, True, True]
    assert {r["unit"] for r in answered[0]["explanation"]["rules"]} == {"EUR", "points"}
    assert answered[3]["explanation"]["attribution"]["status"] == "none"
    assert answered[4]["explanation"]["attribution"]["code"] == "self_referral"

    # Stored: no id the row or the rewards hold, none of the rewards' amounts.
    for purchase in answered:
        text = json.dumps(await _kept(db, purchase["id"]))
        held = [purchase[k] for k in ("program_id", "promoter_id", "referral_id") if purchase[k]]
        held += [r["id"] for r in purchase["rewards"]]
        assert not [i for i in held if i in text], text
    assert await _kept(db, answered[3]["id"]) == {"attribution": "none", "rules": []}
    # A fired rule keeps only that it fired: its code, reason and cap say what every fired
    # rule's say, its reward is the purchase's, and its id and name are the rule set's.
    kept = await _kept(db, answered[0]["id"])
    assert [set(r) for r in kept["rules"]] == [{"fired"}] * 3
    [rule_set] = {(await _kept(db, p["id"])).get("rule_set") for p in answered[:3]}
    assert isinstance(rule_set, int)
    assert not [r for r in answered[0]["explanation"]["rules"] if r["rule_id"] in json.dumps(kept)]

    async def read_back() -> list[dict[str, Any]]:
        one = [await kit.get(f"/v1/purchases/{p['id']}") for p in answered]
        listed = (await kit.get("/v1/purchases?limit=10"))["data"][::-1]
        assert [p["explanation"] for p in listed] == [p["explanation"] for p in one]
        return one

    assert [p["explanation"] for p in await read_back()] == [p["explanation"] for p in answered]
    replayed = await kit.purchase(
        200,
        external_id="link",
        customer={"source_id": "a"},
        amount="80.00",
        link_id=ada["default_link"]["id"],
    )
    assert replayed["explanation"] == answered[0]["explanation"]

    # The rewards change (one approved early, the purchase refunded): the explanation does not.
    pending = next(r for r in answered[0]["rewards"] if r["status"] == "pending")
    clock.advance(days=1)
    await kit.post(f"/v1/rewards/{pending['id']}/approve", {}, 200)
    await kit.refund(answered[0]["id"], amount="80.00")
    assert [p["explanation"] for p in await read_back()] == [p["explanation"] for p in answered]


async def test_an_explanation_stored_whole_reads_as_stored(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    await kit.rule(program, reward={"type": "fixed", "amount": "2.50"})
    ada = await kit.promoter(program)
    bought = await kit.purchase(external_id="o", amount="10.00", code=code_of(ada))
    whole = bought["explanation"] | {
        "rules": [
            r | {"amount": r["amount"] and f"{r['amount']:.2f}"}
            for r in bought["explanation"]["rules"]
        ]
    }
    async with db.transaction() as session:
        await session.execute(
            update(Purchase).where(Purchase.id == uuid.UUID(bought["id"])).values(explanation=whole)
        )
    assert (await kit.get(f"/v1/purchases/{bought['id']}"))["explanation"] == bought["explanation"]


def test_a_fired_rule_without_its_reward_is_a_broken_database() -> None:
    purchase = Purchase(id=uuid.uuid4(), program_id=None, promoter_id=None, referral_id=None)
    kept = {"attribution": "none", "rules": [{"rule_id": str(uuid.uuid4()), "fired": True}]}
    with pytest.raises(LookupError, match="no reward of rule"):
        explained.complete(kept, purchase, [])


def test_a_fired_rule_keeps_what_it_says_otherwise() -> None:
    rule = {
        "rule_id": "r",
        "rule_name": "10% capped",
        "fired": True,
        "code": "fired",
        "reason": None,
        "reward_id": "x",
        "unit": "EUR",
        "amount": "20.00",
        "capped": True,
    }
    row = dict.fromkeys(("program_id", "promoter_id", "referral_id"))
    kept = explained.stored(
        {"attribution": explained.NOTHING, "rules": [rule, rule | {"capped": False}]}, row
    )
    assert kept["rules"] == [
        {"rule_id": "r", "rule_name": "10% capped", "fired": True, "capped": True},
        {"rule_id": "r", "rule_name": "10% capped", "fired": True},
    ]


async def test_a_rule_renamed_later_keeps_the_name_it_was_decided_under(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    """Each change to a program's rules records the set of its active rules: a purchase names
    the set it was decided with, and reads back with the names of that moment."""
    kit = Kit(client, tenant)
    program = await kit.program()
    rule = await kit.rule(program, name="Ten", reward={"type": "percentage", "percent": "10"})
    ada = await kit.promoter(program)
    before = await kit.purchase(external_id="o-1", amount="10.00", code=code_of(ada))
    await kit.patch(f"/v1/programs/{program['id']}/rules/{rule['id']}", {"name": "Ten %"}, 200)
    after = await kit.purchase(
        external_id="o-2", customer={"source_id": "other"}, amount="10.00", code=code_of(ada)
    )
    assert before["explanation"]["rules"][0]["rule_name"] == "Ten"
    assert after["explanation"]["rules"][0]["rule_name"] == "Ten %"
    sets = {(await _kept(db, p["id"]))["rule_set"] for p in (before, after)}
    assert len(sets) == 2
    for bought in (before, after):
        assert (await kit.get(f"/v1/purchases/{bought['id']}"))["explanation"] == bought[
            "explanation"
        ]


async def test_rules_changed_outside_goodwill_are_explained_whole(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    """Rules changed straight in the database have no recorded set: a purchase keeps every
    rule's id and name, and reads back the same."""
    kit = Kit(client, tenant)
    program = await kit.program()
    rule = await kit.rule(program, name="Ten", reward={"type": "percentage", "percent": "10"})
    ada = await kit.promoter(program)
    async with db.transaction() as session:
        await session.execute(
            update(RewardRule).where(RewardRule.id == uuid.UUID(rule["id"])).values(name="Renamed")
        )
    bought = await kit.purchase(external_id="o-1", amount="10.00", code=code_of(ada))
    kept = await _kept(db, bought["id"])
    assert "rule_set" not in kept
    assert kept["rules"] == [{"rule_id": rule["id"], "rule_name": "Renamed", "fired": True}]
    assert (await kit.get(f"/v1/purchases/{bought['id']}"))["explanation"] == bought["explanation"]


def test_a_rule_set_that_is_not_there_is_a_broken_database() -> None:
    purchase = Purchase(id=uuid.uuid4(), program_id=None, promoter_id=None, referral_id=None)
    kept = {"attribution": "none", "rule_set": 7, "rules": [{"fired": False}]}
    with pytest.raises(LookupError, match="no rule set 7"):
        explained.complete(kept, purchase, [], {})
