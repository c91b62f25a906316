"""Print one real payload of each loyalty and tracking event, for docs/events.md.

``python scripts/event_examples.py``: runs a stamps and a points program through the API
in-process on a scratch SQLite file and prints each event's ``data`` as emitted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from goodwill.db import Database
from goodwill.events.models import Event
from goodwill.http.app import create_app
from goodwill.maintenance import expire_points_once
from goodwill.migrate import upgrade
from goodwill.settings import Settings
from goodwill.workspaces import service as workspaces


class Clock:
    now = datetime(2026, 4, 6, 6, 23, 54, 793000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'x.db'}", log_level="error")
        await asyncio.to_thread(upgrade, settings)
        db, clock = Database(settings), Clock()
        async with db.transaction() as session:
            ws = await workspaces.create_workspace(session, "Examples", clock())
            key = (await workspaces.create_secret_key(session, ws.id, clock())).secret
        app = create_app(settings, clock=clock, database=db, background=False)
        h = {"X-Api-Key": key}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as c:

            async def post(path: str, body: dict[str, object]) -> dict[str, object]:
                r = await c.post(path, json=body, headers=h)
                assert r.status_code in (200, 201), r.text
                return dict(r.json())

            stamps = await post(
                "/v1/programs",
                {
                    "kind": "stamps",
                    "name": "Coffee",
                    "currency": "EUR",
                    "settings": {"stamps_required": 1, "reward": {"description": "A free coffee"}},
                },
            )
            await post(
                "/v1/programs",
                {
                    "kind": "points",
                    "name": "Points",
                    "currency": "EUR",
                    "settings": {
                        "expiry_days": 365,
                        "earning_rules": [
                            {"trigger": "purchase", "points_per_unit": "1"},
                            {"trigger": "newsletter_signup", "fixed_points": 50},
                        ],
                    },
                },
            )
            p = await post(
                "/v1/purchases",
                {
                    "external_id": "txn_98765",
                    "customer": {"source_id": "ada"},
                    "amount": "42.00",
                    "currency": "EUR",
                },
            )
            red = await post(
                "/v1/redemptions",
                {
                    "program_id": stamps["id"],
                    "customer": {"source_id": "ada"},
                    "stamps": 1,
                    "external_id": "redeem-1",
                },
            )
            await post(f"/v1/redemptions/{red['id']}/reversal", {})
            await post(f"/v1/purchases/{p['id']}/refunds", {"amount": "10.00"})
            await post(
                "/v1/events",
                {
                    "event": "newsletter_signup",
                    "customer": {"source_id": "ada"},
                    "metadata": {"list": "weekly"},
                },
            )
        clock.now += timedelta(days=366)
        await expire_points_once(db, clock)
        async with db.transaction(write=False) as session:
            seen: set[str] = set()
            for event in await session.scalars(select(Event).order_by(Event.seq)):
                if event.type in seen:
                    continue
                seen.add(event.type)
                sys.stdout.write(f"### {event.type}\n{json.dumps(event.data, indent=None)}\n\n")
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
