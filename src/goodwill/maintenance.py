"""Housekeeping that runs beside the server, every minute: approving rewards whose hold period
has ended, expiring loyalty points past their expiry date, and (every tenth minute) forgetting
expired idempotency keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.clock import Clock
from goodwill.db import Database
from goodwill.idempotency.service import purge
from goodwill.loyalty.points import expire_due_points
from goodwill.rewards.service import approve_due
from goodwill.settings import Settings

log = structlog.get_logger("goodwill.maintenance")

INTERVAL_SECONDS = 60
PURGE_EVERY = 10  # rounds
BATCH = 500


async def run_once(db: Database, settings: Settings, clock: Clock) -> int:
    retention = timedelta(hours=max(24, settings.idempotency_retention_hours))
    async with db.transaction() as session:
        return await purge(session, clock(), retention)


async def _in_batches(
    db: Database, clock: Clock, step: Callable[[AsyncSession, datetime, int], Awaitable[int]]
) -> int:
    """Run ``step`` in committed batches until it has nothing left; the total it did."""
    total = 0
    while True:
        async with db.transaction() as session:
            done = await step(session, clock(), BATCH)
        total += done
        if done < BATCH:
            return total


async def approve_held_rewards(db: Database, clock: Clock) -> int:
    """Approve every reward whose hold has ended, one committed batch at a time."""
    return await _in_batches(db, clock, lambda s, now, n: approve_due(s, now, limit=n))


async def expire_points_once(db: Database, clock: Clock) -> int:
    """Expire due points in batches of cards, one transaction each; how many lots expired."""
    return await _in_batches(db, clock, lambda s, now, n: expire_due_points(s, now, limit=n))


async def maintenance_loop(db: Database, settings: Settings, clock: Clock) -> None:
    rounds = 0
    while True:
        for name, job in (
            ("rewards_approved_after_hold", approve_held_rewards),
            ("points_expired", expire_points_once),
        ):
            try:
                count = await job(db, clock)
                if count:
                    log.info(name, count=count)
            except Exception:  # keep the loop alive; the next round retries
                log.exception("maintenance_failed", job=name)
        if rounds % PURGE_EVERY == 0:
            try:
                purged = await run_once(db, settings, clock)
                if purged:
                    log.info("idempotency_keys_purged", count=purged)
            except Exception:  # keep the loop alive; the next round retries
                log.exception("maintenance_failed", job="idempotency_purge")
        rounds += 1
        await asyncio.sleep(INTERVAL_SECONDS)
