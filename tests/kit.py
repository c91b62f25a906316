"""Building referral programs through the API, for the tests of the referral engine."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select

from goodwill.db import Database
from goodwill.events import refs
from goodwill.events.models import Event, EventGroup
from tests.conftest import Tenant

DESTINATION = "https://shop.example/welcome?ref=1"


class Kit:
    """One workspace's calls: ``await kit.program()``, ``await kit.purchase(...)``…"""

    def __init__(self, client: AsyncClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant

    async def post(self, path: str, body: dict[str, Any], expect: int | None = None) -> Any:
        r = await self.client.post(path, json=body, headers=self.tenant.headers)
        if expect is not None:
            assert r.status_code == expect, r.text
        return r.json()

    async def patch(self, path: str, body: dict[str, Any], expect: int | None = None) -> Any:
        r = await self.client.patch(path, json=body, headers=self.tenant.headers)
        if expect is not None:
            assert r.status_code == expect, r.text
        return r.json()

    async def get(self, path: str) -> Any:
        r = await self.client.get(path, headers=self.tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def program(self, currency: str = "EUR", **settings: Any) -> dict[str, Any]:
        return dict(
            await self.post(
                "/v1/programs",
                {
                    "kind": "referral",
                    "name": "Friends",
                    "currency": currency,
                    "settings": {"destination_url": DESTINATION, **settings},
                },
                201,
            )
        )

    async def rule(self, program: dict[str, Any], **body: Any) -> dict[str, Any]:
        body.setdefault("name", "rule")
        body.setdefault("trigger", "purchase")
        body.setdefault("hold_days", 0)
        return dict(await self.post(f"/v1/programs/{program['id']}/rules", body, 201))

    async def promoter(self, program: dict[str, Any], **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Ada")
        return dict(await self.post(f"/v1/programs/{program['id']}/promoters", body, 201))

    async def purchase_response(self, **body: Any) -> Response:
        body.setdefault("currency", "EUR")
        body.setdefault("customer", {"source_id": "buyer"})
        return await self.client.post("/v1/purchases", json=body, headers=self.tenant.headers)

    async def purchase(self, expect: int = 201, **body: Any) -> dict[str, Any]:
        r = await self.purchase_response(**body)
        assert r.status_code == expect, r.text
        return dict(r.json())

    async def refund(self, purchase_id: str, expect: int = 201, **body: Any) -> dict[str, Any]:
        return dict(await self.post(f"/v1/purchases/{purchase_id}/refunds", body, expect))


def code_of(promoter: dict[str, Any]) -> str:
    return str(promoter["default_link"]["code"])


async def stored_events(db: Database, workspace_id: uuid.UUID) -> list[Event]:
    """Every event the workspace's outbox holds, in the feed's order (on SQLite)."""
    async with db.transaction(write=False) as session:
        groups = await session.scalars(
            select(EventGroup)
            .where(EventGroup.workspace_id == workspace_id)
            .order_by(EventGroup.txid, EventGroup.seq)
        )
        return [event for events in await refs.expand(session, groups) for event in events]


async def events_of(db: Database, tenant: Tenant, type: str | None = None) -> list[Event]:
    events = await stored_events(db, tenant.workspace_id)
    return [e for e in events if type is None or e.type == type]
