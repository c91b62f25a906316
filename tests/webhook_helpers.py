"""Shared pieces of the webhook tests: settings that allow local sinks, events, endpoints."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, text, update

from goodwill.db import Database
from goodwill.events.service import emit
from goodwill.webhooks.models import WebhookDelivery
from goodwill.workspaces.models import Workspace
from tests.conftest import ROOT, FakeClock, Tenant

# Copies of the public API documents Goodwill reproduces (GOODWILL_SEEDS to point elsewhere).
SEEDS = Path(os.environ.get("GOODWILL_SEEDS", ROOT / "tests" / "seeds"))
NATS_URL = "nats://127.0.0.1:4222"


def seed_000() -> dict[str, Any]:
    text = next(SEEDS.glob("000_*.txt")).read_text()
    start = text.index("Example Payload")
    return dict(json.loads(text[text.index("{", start) :]))


def seed_001() -> dict[str, dict[str, Any]]:
    """The three example payloads of seed 001, by type."""
    text = next(SEEDS.glob("001_*.txt")).read_text()
    found = {}
    for block in re.findall(r"json\n(\{.*?\n\})", text, flags=re.S):
        payload = json.loads(block)
        found[payload["type"]] = payload
    return found


async def set_prefix(db: Database, tenant: Tenant, prefix: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == tenant.workspace_id)
            .values(event_type_prefix=prefix)
        )


async def emit_event(
    db: Database,
    tenant: Tenant,
    clock: FakeClock,
    type: str = "reward.created",
    *,
    data: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
    source: str = "urn:POST:/purchases",
    subject: str | None = None,
) -> uuid.UUID:
    async with db.transaction() as session:
        return await emit(
            session,
            workspace_id=tenant.workspace_id,
            type=type,
            source=source,
            subject=subject or uuid.uuid4(),
            data=data if data is not None else {"n": 1},
            now=clock(),
            attributes=attributes,
        )


async def create_endpoint(client: AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/webhook-endpoints", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def deliveries_of(db: Database, endpoint_id: str) -> list[WebhookDelivery]:
    async with db.transaction(write=False) as session:
        rows = await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id))
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
        return list(rows)


async def feed_caught_up(db: Database, seconds: float = 30.0) -> None:
    """Wait (bounded) until the feed can show everything committed so far.

    On PostgreSQL the feed holds back the events of transactions at or above the oldest one
    still running anywhere on the server (docs/events.md), and another client of the same server
    (a parallel test run) may keep one open for a moment: wait until every transaction that had
    started by now has finished. On SQLite there is nothing to wait for.
    """
    if db.dialect != "postgresql":
        return
    snapshot = "SELECT pg_snapshot_{}(pg_current_snapshot())::text::bigint"
    async with db.transaction(write=False) as session:
        target = await session.scalar(text(snapshot.format("xmax")))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with db.transaction(write=False) as session:
            if await session.scalar(text(snapshot.format("xmin"))) >= target:
                return
        await asyncio.sleep(0.05)
