"""Housekeeping that runs beside the server: forgetting expired idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from goodwill.clock import Clock
from goodwill.db import Database
from goodwill.idempotency.service import purge
from goodwill.settings import Settings

log = structlog.get_logger("goodwill.maintenance")

INTERVAL_SECONDS = 600


async def run_once(db: Database, settings: Settings, clock: Clock) -> int:
    retention = timedelta(hours=max(24, settings.idempotency_retention_hours))
    async with db.transaction() as session:
        return await purge(session, clock(), retention)


async def maintenance_loop(db: Database, settings: Settings, clock: Clock) -> None:
    while True:
        try:
            purged = await run_once(db, settings, clock)
            if purged:
                log.info("idempotency_keys_purged", count=purged)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("maintenance_failed")
        await asyncio.sleep(INTERVAL_SECONDS)
