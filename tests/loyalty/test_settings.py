"""Stamps and points settings: what programs accept, and each refusal naming its field."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows, error_of

CARD = {"stamps_required": 9, "reward": {"description": "The 10th coffee free"}}
RULE = {"trigger": "purchase", "points_per_unit": "1"}


@pytest.mark.parametrize(
    ("kind", "body", "param"),
    [
        ("stamps", {**CARD, "max_stamps_per_purchase": 3}, "settings.max_stamps_per_purchase"),
        (
            "stamps",
            {**CARD, "item_conditions": {"field": "item_id", "op": "eq", "value": "x"}},
            "settings.item_conditions",
        ),
        (
            "stamps",
            {**CARD, "stamps_per_purchase": "per_item", "item_conditions": {"op": "eq"}},
            "settings.item_conditions.field",
        ),
        (
            "stamps",
            {**CARD, "stamps_per_purchase": "per_item", "max_stamps_per_purchase": 0},
            "settings.max_stamps_per_purchase",
        ),
        ("stamps", {**CARD, "stamps_per_purchase": "each"}, "settings.stamps_per_purchase"),
        (
            "stamps",
            {**CARD, "reward": {"description": "x", "value": "-1"}},
            "settings.reward.value",
        ),
        ("stamps", {**CARD, "reward": {}}, "settings.reward.description"),
        # the value is an amount in the program's currency (EUR): exact and bounded
        *[
            (
                "stamps",
                {**CARD, "reward": {"description": "x", "value": v}},
                "settings.reward.value",
            )
            for v in ("3.205", "1e400", "NaN", "Infinity", "100000000000000.00")
        ],
        (
            "points",
            {"earning_rules": [RULE], "pending_days": 30, "expiry_days": 30},
            "settings.expiry_days",
        ),
        (
            "points",
            {"earning_rules": [{**RULE, "points_per_unit": "0"}]},
            "settings.earning_rules[0].points_per_unit",
        ),
        (
            "points",
            {"earning_rules": [{**RULE, "points_per_unit": "0.0000001"}]},
            "settings.earning_rules[0].points_per_unit",
        ),
        (
            "points",
            {"earning_rules": [{"trigger": "purchase", "fixed_points": 0}]},
            "settings.earning_rules[0].fixed_points",
        ),
        ("points", {"earning_rules": [{**RULE, "fixed_points": 5}]}, "settings.earning_rules[0]"),
        (
            "points",
            {"earning_rules": [{**RULE, "rounding": "up"}]},
            "settings.earning_rules[0].rounding",
        ),
        (
            "points",
            {"earning_rules": [{"trigger": "", "fixed_points": 5}]},
            "settings.earning_rules[0].trigger",
        ),
    ],
)
async def test_bad_loyalty_settings_are_named(
    client: AsyncClient,
    db: Database,
    *,
    tenant: Tenant,
    kind: str,
    body: dict[str, Any],
    param: str,
) -> None:
    r = await client.post(
        "/v1/programs",
        json={"kind": kind, "name": "P", "currency": "EUR", "settings": body},
        headers=tenant.headers,
    )
    assert r.status_code == 422, r.text
    assert error_of(r)["param"] == param, r.text
    assert await count_rows(db, "programs", tenant.workspace_id) == 0


async def test_good_loyalty_settings_are_normalized(client: AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/v1/programs",
        json={
            "kind": "stamps",
            "name": "Coffee",
            "currency": "EUR",
            "settings": {
                **CARD,
                "stamps_per_purchase": "per_item",
                "item_conditions": {"field": "item_id", "op": "in", "value": ["latte"]},
                "max_stamps_per_purchase": 2,
            },
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["max_stamps_per_purchase"] == 2
    r = await client.post(
        "/v1/programs",
        json={
            "kind": "points",
            "name": "Points",
            "currency": "EUR",
            "settings": {
                "earning_rules": [RULE, {"trigger": "review_posted", "fixed_points": 25}],
                "pending_days": 14,
                "expiry_days": 15,
            },
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["earning_rules"][1] == {
        "trigger": "review_posted",
        "points_per_unit": None,
        "fixed_points": 25,
        "rounding": "floor",
        "conditions": None,
    }


async def test_a_card_reward_value_is_an_amount_in_the_program_currency(
    client: AsyncClient, tenant: Tenant
) -> None:
    body = {"kind": "stamps", "name": "Ramen", "currency": "JPY", "settings": CARD}
    r = await client.post("/v1/programs", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    url = f"/v1/programs/{r.json()['id']}"
    for value, status in (("850.5", 422), ("850", 200)):
        settings = {**CARD, "reward": {"description": "A free bowl", "value": value}}
        r = await client.patch(url, json={"settings": settings}, headers=tenant.headers)
        assert r.status_code == status, r.text
    assert r.json()["settings"]["reward"] == {"description": "A free bowl", "value": "850"}
