"""The event catalog: every type Goodwill knows is documented in docs/events.md with an example,
the docs name no type Goodwill does not know, and every type the domains emit is in the catalog
and a CloudEvent the official SDK accepts."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from httpx import AsyncClient

from goodwill.db import Database
from goodwill.events.catalog import EVENT_TYPES
from goodwill.maintenance import expire_points_once
from goodwill.settings import Settings
from goodwill.webhooks.worker import Worker
from tests.conftest import ROOT, FakeClock, Tenant
from tests.kit import Kit, code_of
from tests.sink import Answer, running_sink
from tests.webhook_helpers import create_endpoint, feed_caught_up

# The types the event catalog was specified with; domains may add more (all documented).
SPECIFIED = {
    "customer.created",
    "referral.created",
    "purchase.created",
    "purchase.refunded",
    "reward.created",
    "reward.approved",
    "reward.voided",
    "reward.paid",
    "payout.created",
    "qualifying_purchase.created",
    "qualifying_purchase.voided",
    "qualifying_purchase.redeemed",
    "qualifying_purchase.unredeemed",
    "redemption.created",
    "redemption.reversed",
    "points.earned",
    "points.expired",
    "event.tracked",
    "webhook_endpoint.disabled",
}


def _catalog_sections() -> dict[str, str]:
    """docs/events.md's catalog: each documented type → the text of its section."""
    text = (ROOT / "docs" / "events.md").read_text()
    catalog = text[text.index("\n## The catalog") :]
    sections: dict[str, str] = {}
    for heading, body in re.findall(r"\n### ([^\n]+)\n(.*?)(?=\n### |\n## |\Z)", catalog, re.S):
        names = re.findall(r"`([^`]+)`", heading)
        assert names, heading
        family = names[0].rsplit(".", 1)[0]
        for name in names:
            # `qualifying_purchase.created`, `.voided`: the short ones share the first's entity
            sections[family + name if name.startswith(".") else name] = body
    return sections


def test_every_event_type_is_documented_with_an_example() -> None:
    sections = _catalog_sections()
    assert set(sections) == EVENT_TYPES
    for event_type, body in sections.items():
        examples = re.findall(r"```json\n(.*?)```", body, re.S)
        assert examples, f"{event_type} has no JSON example in docs/events.md"
        for example in examples:
            # "…" abbreviates ids in some examples; the rest must be JSON.
            json.loads(example.replace("01a2…", "01a2"))


def test_the_catalog_has_every_specified_type() -> None:
    assert SPECIFIED <= EVENT_TYPES


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="warning", webhook_allow_private=True)


@pytest.fixture
async def worker(
    db: Database, settings: Settings, clock: FakeClock, tenant: Tenant
) -> AsyncIterator[Worker]:
    w = Worker(db, settings, clock=clock, workspace_id=tenant.workspace_id)
    yield w
    await w.aclose()


async def test_every_type_the_domains_emit_is_in_the_catalog_and_a_valid_cloudevent(
    client: AsyncClient, tenant: Tenant, db: Database, clock: FakeClock, worker: Worker
) -> None:
    """One of each state change through the API (and the worker, and the points sweep)."""
    kit = Kit(client, tenant)
    referral = await kit.program()
    await kit.rule(referral, reward={"type": "percentage", "percent": "10"})  # no hold
    promoter = await kit.promoter(referral)
    stamps = await kit.post(
        "/v1/programs",
        {
            "kind": "stamps",
            "name": "Coffee",
            "currency": "EUR",
            "settings": {"stamps_required": 1, "reward": {"description": "A free coffee"}},
        },
        201,
    )
    await kit.post(
        "/v1/programs",
        {
            "kind": "points",
            "name": "Points",
            "currency": "EUR",
            "settings": {
                "expiry_days": 365,
                "earning_rules": [{"trigger": "purchase", "points_per_unit": "1"}],
            },
        },
        201,
    )
    ada: dict[str, Any] = {"source_id": "ada"}
    with running_sink(default=Answer(410)) as gone:
        await create_endpoint(client, tenant, url=gone.url(), event_types=["customer.created"])
        await kit.purchase(external_id="p1", customer=ada, amount="100.00", code=code_of(promoter))
        await kit.post("/v1/payouts", {"promoter_id": promoter["id"]}, 201)
        redemption = await kit.post(
            "/v1/redemptions",
            {"program_id": stamps["id"], "customer": ada, "stamps": 1, "external_id": "r1"},
            201,
        )
        await kit.post(f"/v1/redemptions/{redemption['id']}/reversal", {}, 200)
        second = await kit.purchase(
            external_id="p2", customer=ada, amount="30.00", code=code_of(promoter)
        )
        await kit.refund(second["id"])  # in full
        await kit.post("/v1/events", {"event": "newsletter_signup", "customer": ada}, 200)
        ops = await create_endpoint(client, tenant, url=gone.url(), event_types=["reward.paid"])
        r = await client.post(f"/v1/webhook-endpoints/{ops['id']}/test", headers=tenant.headers)
        assert r.status_code == 202, r.text
        await worker.drain()  # the 410 disables both endpoints
    clock.advance(days=366)
    assert await expire_points_once(db, clock) >= 1

    await feed_caught_up(db)
    seen: set[str] = set()
    cursor = None
    while True:
        query = {"limit": 100, **({"after": cursor} if cursor else {})}
        page = (await client.get("/v1/events", params=query, headers=tenant.headers)).json()
        for got in page["data"]:
            body = json.dumps(got).encode()
            headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
            event = from_http(HTTPMessage(headers=headers, body=body), JSONFormat())
            event_type = event.get_attributes()["type"]
            assert event_type.startswith("goodwill."), event_type
            seen.add(event_type.removeprefix("goodwill."))
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == EVENT_TYPES
