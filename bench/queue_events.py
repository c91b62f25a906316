"""Queue N events for one webhook endpoint of a new workspace; print the workspace id.

``python -m bench.queue_events N URL`` against ``GOODWILL_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import sys

import goodwill.models  # noqa: F401 - every table, for foreign keys
from goodwill.clock import utcnow
from goodwill.db import Database
from goodwill.events.service import emit
from goodwill.settings import Settings
from goodwill.webhooks import service
from goodwill.webhooks.schemas import EndpointCreate
from goodwill.workspaces import service as workspaces


async def main(count: int, url: str) -> None:
    settings = Settings.from_env()
    db = Database(settings)
    now = utcnow()
    async with db.transaction() as session:
        ws = await workspaces.create_workspace(session, "bench delivery", now)
        await service.create(session, ws.id, EndpointCreate(url=url), now)
    for start in range(0, count, 1000):
        async with db.transaction() as session:
            for n in range(start, min(count, start + 1000)):
                await emit(
                    session,
                    workspace_id=ws.id,
                    type="reward.created",
                    source="urn:POST:/bench",
                    subject=str(n),
                    data={"n": n, "amount": "4.20"},
                    now=now,
                )
    await db.dispose()
    sys.stdout.write(f"{ws.id}\n")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
