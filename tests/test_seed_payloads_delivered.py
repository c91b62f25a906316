"""Seeds 000 and 001 end to end: real purchases, refunds and redemptions through the API, delivered
by the worker to a real local HTTP sink, signature-checked with the official ``standardwebhooks``
package, and each delivered body compared with the seed field by field (names, order, types)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from standardwebhooks import Webhook

from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.settings import Settings
from goodwill.webhooks.worker import Worker
from tests.conftest import FakeClock, Tenant
from tests.kit import Kit, code_of
from tests.sink import Received, running_sink
from tests.webhook_helpers import create_endpoint, seed_000, seed_001

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # RFC 3339, UTC, milliseconds


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="warning", webhook_allow_private=True)


@pytest.fixture
def clock() -> FakeClock:
    # Standard Webhooks receivers check the timestamp against their own clock.
    return FakeClock(utcnow())


@pytest.fixture
async def worker(
    db: Database, settings: Settings, clock: FakeClock, tenant: Tenant
) -> AsyncIterator[Worker]:
    w = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id)
    yield w
    await w.aclose()


def _verified(received: Received, secret: str) -> dict[str, Any]:
    """The body, once the signature checks out; keys in the order they were sent."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    Webhook(secret).verify(received.body, headers)
    payload: dict[str, Any] = json.loads(received.body)
    return payload


def _same_shape(got: dict[str, Any], seed: dict[str, Any], where: str) -> None:
    assert list(got) == list(seed), where  # the same fields, in the seed's order
    for field, expected in seed.items():
        assert type(got[field]) is type(expected), (where, field, got[field])


async def test_purchase_created_is_delivered_in_the_seed_000_shape(
    client: AsyncClient, tenant: Tenant, worker: Worker
) -> None:
    seed = seed_000()
    kit = Kit(client, tenant)
    r = await client.patch(
        "/v1/workspace", json={"event_type_prefix": "in.org.quicko.cliq"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    program = await kit.program()
    await kit.rule(program, reward={"type": "percentage", "percent": "10"})
    promoter = await kit.promoter(program)
    with running_sink() as sink:
        endpoint = await create_endpoint(
            client,
            tenant,
            url=sink.url(),
            format="cloudevents_seed",
            event_types=["purchase.created"],
        )
        bought = await kit.purchase(
            external_id="order-420",
            customer={"source_id": "contact"},
            amount="420.00",
            code=code_of(promoter),
            items=[{"item_id": "item1"}],
            utm_params=seed["data"]["utm_params"],
        )
        assert await worker.drain() == 1
    (received,) = sink.received
    assert received.headers["content-type"] == "application/json"
    got = _verified(received, endpoint["secret"])

    _same_shape(got, seed, "envelope")
    _same_shape(got["data"], seed["data"], "data")
    assert got["data"]["utm_params"] == seed["data"]["utm_params"]
    for field in ("specversion", "datacontenttype", "source", "type"):
        assert got[field] == seed[field], field
    for field in ("@entity", "trigger_type", "item_id", "amount"):
        assert got["data"][field] == seed["data"][field], field
    assert got["id"] == received.headers["webhook-id"]
    assert got["program_id"] == program["id"]
    assert got["promoter_id"] == got["data"]["promoter_id"] == promoter["id"]
    assert got["subject"] == got["data"]["purchase_id"] == bought["id"]
    assert got["data"]["contact_id"] == bought["customer_id"]
    assert got["data"]["link_id"] == promoter["default_link"]["id"]
    for when in (got["time"], got["data"]["created_at"], got["data"]["updated_at"]):
        assert TIME.match(when), when


async def test_qualifying_purchase_events_are_delivered_in_the_seed_001_shape(
    client: AsyncClient, tenant: Tenant, worker: Worker
) -> None:
    seeds = seed_001()
    kit = Kit(client, tenant)
    await client.patch(
        "/v1/workspace", json={"event_type_prefix": "com.example.shop"}, headers=tenant.headers
    )
    program = await kit.post(
        "/v1/programs",
        {
            "kind": "stamps",
            "name": "Coffee",
            "currency": "EUR",
            "settings": {"stamps_required": 1, "reward": {"description": "A free coffee"}},
        },
        201,
    )
    customer = {"source_id": "ada"}
    with running_sink() as sink:
        endpoint = await create_endpoint(
            client, tenant, url=sink.url(), format="flat", event_types=["qualifying_purchase.*"]
        )
        bought = await kit.purchase(
            external_id="txn_98765", customer=customer, amount="3.50", currency="EUR"
        )
        redemption = await kit.post(
            "/v1/redemptions",
            {"program_id": program["id"], "customer": customer, "stamps": 1, "external_id": "r1"},
            201,
        )
        await kit.post(f"/v1/redemptions/{redemption['id']}/reversal", {}, 200)
        await kit.refund(bought["id"])
        assert await worker.drain() == 4  # created, redeemed, unredeemed, voided
    by_type = {}
    for received in sink.received:
        payload = _verified(received, endpoint["secret"])
        assert payload["event_id"] == received.headers["webhook-id"]
        by_type[payload["type"]] = payload  # unprefixed, whatever the workspace's prefix
    assert set(by_type) == {f"qualifying_purchase.{c}" for c in ("created", "redeemed")} | set(
        seeds
    )
    stamp_id = by_type["qualifying_purchase.created"]["qualifying_purchase_id"]
    for event_type, seed in seeds.items():
        got = by_type[event_type]
        _same_shape(got, seed, event_type)
        assert TIME.match(got["timestamp"]), event_type
        assert got["qualifying_purchase_id"] == stamp_id
        assert got["loyalty_program_id"] == program["id"]
        assert got["transaction_id"] == bought["id"]
        assert got["transaction_ref"] == "txn_98765"
    assert TIME.match(by_type["qualifying_purchase.created"]["created_at"])
    assert TIME.match(by_type["qualifying_purchase.voided"]["voided_at"])
