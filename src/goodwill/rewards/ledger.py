"""The append-only ledger: every movement of a reward is a set of signed entries.

Accounts are a promoter or a customer; buckets are ``pending``, ``approved``, ``paid`` and
``clawback``. What each operation writes (amounts in minor units or points):

    earned       pending +a             (or approved +a when there is no hold period)
    approved     pending -n, approved +n
    voided       <its bucket> -n
    reversed     <its bucket> -r        (a partial refund of an unpaid reward)
    clawback     clawback -r            (a refund of a paid reward: owed back)
    paid         approved -n, paid +n
    settled      clawback +c, paid -c   (a payout nets the clawback it repays)

A balance is the sum of an account's entries; nothing here is ever updated or deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import insert_into, raw
from goodwill.rewards.models import LedgerEntry, Reward

BUCKETS = ("pending", "approved", "paid", "clawback")
LEDGER: Table = LedgerEntry.__table__  # type: ignore[assignment]
INSERT = insert_into(LEDGER)


def account_of(reward: Reward) -> tuple[str, uuid.UUID]:
    if reward.beneficiary == "referred_customer":
        assert reward.customer_id is not None
        return "customer", reward.customer_id
    return "promoter", reward.promoter_id


def account_entry(
    workspace_id: uuid.UUID,
    account: tuple[str, uuid.UUID],
    unit: str,
    *,
    bucket: str,
    amount: int,
    kind: str,
    now: datetime,
    reward_id: uuid.UUID | None = None,
    payout_id: uuid.UUID | None = None,
    refund_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    assert bucket in BUCKETS
    return {
        "workspace_id": workspace_id,
        "account_type": account[0],
        "account_id": account[1],
        "unit": unit,
        "bucket": bucket,
        "amount_minor": amount,
        "kind": kind,
        "reward_id": reward_id,
        "payout_id": payout_id,
        "refund_id": refund_id,
        "created_at": now,
    }


def entry(
    reward: Reward, bucket: str, amount: int, *, kind: str, now: datetime, **links: Any
) -> dict[str, Any]:
    return account_entry(
        reward.workspace_id,
        account_of(reward),
        reward.unit,
        bucket=bucket,
        amount=amount,
        kind=kind,
        now=now,
        reward_id=reward.id,
        **links,
    )


def move(
    reward: Reward, source: str, target: str, amount: int, *, kind: str, now: datetime, **links: Any
) -> list[dict[str, Any]]:
    return [
        entry(reward, source, -amount, kind=kind, now=now, **links),
        entry(reward, target, amount, kind=kind, now=now, **links),
    ]


async def write(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    await (await raw(session)).insert((INSERT, entries))
