"""Seed 002: the action endpoint, its example and every row of its error table."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, count_rows
from tests.kit import Kit, code_of, events_of

PATHS = ("/functions/v1/openapi-operations", "/v1/operations")


async def _lead(kit: Kit, currency: str = "INR") -> dict[str, Any]:
    """A program with a fixed and a percentage purchase rule, a product, and a lead in it."""
    program = await kit.program(currency)
    fixed = await kit.rule(program, name="fixed", reward={"type": "fixed", "amount": "100"})
    percent = await kit.rule(
        program, name="percent", reward={"type": "percentage", "percent": "7.5"}
    )
    ada = await kit.promoter(program)
    lead = await kit.post(
        "/v1/leads", {"customer": {"source_id": f"lead-{uuid.uuid4()}"}, "code": code_of(ada)}, 201
    )
    product = await kit.post(
        "/v1/products",
        {"sku": f"annual-{uuid.uuid4()}", "name": "Annual", "price": "12500", "currency": currency},
        201,
    )
    return {
        "program": program,
        "promoter": ada,
        "lead_id": lead["customer_id"],
        "product_id": product["id"],
        "rules": (fixed, percent),
    }


@pytest.mark.parametrize("path", PATHS)
async def test_the_seed_example(
    client: AsyncClient, tenant: Tenant, db: Database, path: str
) -> None:
    kit = Kit(client, tenant)
    setup = await _lead(kit)
    r = await client.post(
        path,
        headers={"Content-Type": "application/json", "X-Api-Key": tenant.secret},
        content=(
            f'{{"action": "create_purchase", "lead_id": "{setup["lead_id"]}", '
            f'"product_id": "{setup["product_id"]}", "purchase_amount": 12500, '
            '"date": "2025-04-01T00:00:00.000Z", "description": "Annual subscription"}'
        ),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["purchase"]
    purchase = body["purchase"]
    assert list(purchase) == [
        "id",
        "created_at",
        "leads_id",
        "products_id",
        "purchase_amount",
        "date",
        "description",
    ]
    assert purchase["created_at"] == "2026-04-06T06:23:54.793Z"
    assert purchase["leads_id"] == setup["lead_id"]
    assert purchase["products_id"] == setup["product_id"]
    assert purchase["date"] == "2025-04-01T00:00:00.000Z"
    assert purchase["description"] == "Annual subscription"
    assert '"purchase_amount":12500,' in r.text  # as the seed writes it
    # the side effects: the purchase event, and the fixed and percentage rewards
    [event] = await events_of(db, tenant, "purchase.created")
    assert event.data["purchase_id"] == purchase["id"]
    assert event.data["amount"] == 12500
    assert event.data["promoter_id"] == setup["promoter"]["id"]
    assert event.source == "urn:POST:" + path.removeprefix("/v1")
    stored = await kit.get(f"/v1/purchases/{purchase['id']}")
    assert stored["occurred_at"] == "2025-04-01T00:00:00.000Z"
    assert stored["items"][0]["product_id"] == setup["product_id"]
    assert sorted(r["amount"] for r in stored["rewards"]) == [100, 937.5]  # 7.5% of 12500


async def test_defaults_and_plain_numbers(client: AsyncClient, tenant: Tenant) -> None:
    kit = Kit(client, tenant)
    setup = await _lead(kit, "EUR")
    r = await client.post(
        "/v1/operations",
        json={"action": "create_purchase", "lead_id": setup["lead_id"], "purchase_amount": 19.9},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    purchase = r.json()["purchase"]
    assert purchase["products_id"] is None
    assert purchase["description"] is None
    assert purchase["date"] == purchase["created_at"]  # default: now
    assert '"purchase_amount":19.9,' in r.text
    stored = await kit.get(f"/v1/purchases/{purchase['id']}")
    assert stored["amount"] == 19.9  # exact: decoded as a decimal, never a float


@pytest.mark.parametrize("path", PATHS)
async def test_every_error_of_the_seed_table(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, path: str
) -> None:
    kit = Kit(client, tenant)
    setup = await _lead(kit)
    theirs = await _lead(Kit(client, other_tenant))
    unreferred = await kit.post("/v1/customers", {"source_id": "no-referral"}, 201)
    base = {"action": "create_purchase", "lead_id": setup["lead_id"], "purchase_amount": 10}

    async def call(body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        r = await client.post(
            path, json=body, headers=tenant.headers if headers is None else headers
        )
        return r.status_code, r.json()

    assert await call({"action": "create_purchase"}) == (400, {"error": "lead_id required"})
    assert await call({**base, "lead_id": None}) == (400, {"error": "lead_id required"})
    assert await call(base, {}) == (401, {"error": "Invalid API key"})
    assert await call(base, {"X-Api-Key": "gw_sk_wrong"}) == (401, {"error": "Invalid API key"})
    assert await call(base, {"X-Client-Token": "x"}) == (401, {"error": "Invalid API key"})
    for lead in (unreferred["id"], theirs["lead_id"], str(uuid.uuid4())):
        assert await call({**base, "lead_id": lead}) == (403, {"error": "Lead not accessible"})
    for product in (theirs["product_id"], str(uuid.uuid4())):
        assert await call({**base, "product_id": product}) == (
            403,
            {"error": "Product not found or not owned by your company"},
        )
    assert await call({**base, "action": "delete_purchase"}) == (
        400,
        {"error": "Unknown action: 'delete_purchase' (supported: create_purchase)"},
    )
    for body, message in (
        ({k: v for k, v in base.items() if k != "action"}, "action required"),
        ({**base, "lead_id": "nope"}, "lead_id must be a UUID"),
        ({**base, "product_id": 7}, "product_id must be a UUID"),
        ({**base, "purchase_amount": -1}, "purchase_amount must be a number, 0 or more"),
        ({**base, "purchase_amount": "lots"}, "purchase_amount must be a number, 0 or more"),
        ({**base, "purchase_amount": 1.001}, None),
        ({**base, "date": "tomorrow"}, None),
        (
            {**base, "date": "9999-12-31T23:59:59-05:00"},
            "date is out of range: in UTC it must fall between 0001-01-01 and 9999-12-31",
        ),
        ({**base, "colour": "red"}, "Unknown field: 'colour'"),
        ([1, 2], "The body must be a JSON object"),
    ):
        status, answer = await call(body)
        assert status == 400, body
        assert set(answer) == {"error"}
        if message is not None:
            assert answer["error"] == message, body
    r = await client.post(
        path, content=b"{nope", headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()) == (400, {"error": "Invalid JSON body"})
    # a paused program's leads are not accessible either
    await client.patch(
        f"/v1/programs/{setup['program']['id']}", json={"status": "paused"}, headers=tenant.headers
    )
    assert await call(base) == (403, {"error": "Lead not accessible"})
    for table in ("purchases", "rewards"):
        assert await count_rows(db, table, tenant.workspace_id) == 0, table


async def test_an_idempotency_key_makes_a_retry_safe(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    setup = await _lead(kit)
    body = {"action": "create_purchase", "lead_id": setup["lead_id"], "purchase_amount": 10}
    headers = {**tenant.headers, "Idempotency-Key": "op-1"}
    first = await client.post("/v1/operations", json=body, headers=headers)
    again = await client.post("/v1/operations", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert await count_rows(db, "purchases", tenant.workspace_id) == 1
    other = await client.post(
        "/v1/operations", json={**body, "purchase_amount": 11}, headers=headers
    )
    assert other.status_code == 409
    assert set(other.json()) == {"error"}
