"""The append-only ledger: every movement of a reward is a set of signed entries.

Accounts are a promoter or a customer; buckets are ``pending``, ``approved``, ``paid`` and
``clawback``. What each operation writes (amounts in minor units or points):

    earned       pending +a             (or approved +a when there is no hold period):
                                        the reward's own row, not a ledger_entries row
    approved     pending -n, approved +n
    voided       <its bucket> -n
    reversed     <its bucket> -r        (a partial refund of an unpaid reward)
    clawback     clawback -r            (a refund of a paid reward: owed back)
    paid         approved -n, paid +n
    settled      clawback +c, paid -c   (a payout nets the clawback it repays)

A balance is the sum of an account's entries; nothing here is ever updated or deleted.

A reward is its own ``earned`` entry (migration 0023): its amount, unit, account, and the
bucket it started in (``approved`` when its hold had ended when it was created) never change,
so a row in ``ledger_entries`` that repeated them would say nothing the reward does not: about
a fifth of what a purchase stored. :func:`entries` is the whole ledger, the rewards read as
their ``earned`` entries beside the ``ledger_entries`` rows of every later movement.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Table, case, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import insert_into, raw
from goodwill.rewards.models import LedgerEntry, Reward

BUCKETS = ("pending", "approved", "paid", "clawback")
LEDGER: Table = LedgerEntry.__table__  # type: ignore[assignment]
INSERT = insert_into(LEDGER)


def rewards_of(account_type: str, account_id: uuid.UUID) -> list[Any]:
    """The conditions on ``rewards`` that find the rewards of one account."""
    if account_type == "promoter":  # a reward with a customer is the customer's
        return [Reward.customer_id.is_(None), Reward.promoter_id == account_id]
    return [Reward.customer_id == account_id]


def earned_bucket(reward: Reward) -> str:
    """The bucket a reward's ``earned`` entry is in: the status it was created with."""
    return "approved" if reward.hold_until <= reward.created_at else "pending"


def entries(
    workspace_id: uuid.UUID, account: tuple[str, uuid.UUID] | None = None
) -> CompoundSelect[Any]:
    """The ledger of a workspace, or of one of its accounts: ``account_type``, ``account_id``,
    ``unit``, ``bucket``, ``amount_minor``, ``kind``, ``reward_id`` and ``created_at`` of each
    entry, the rewards' ``earned`` entries first. Each part is filtered by its own indexes
    (the rewards' promoter or customer, the entries' account)."""
    r, e = Reward, LedgerEntry
    to_customer = r.customer_id.is_not(None)  # Reward.beneficiary
    earned = select(
        case((to_customer, "customer"), else_="promoter").label("account_type"),
        case((to_customer, r.customer_id), else_=r.promoter_id).label("account_id"),
        r.unit,
        case((r.hold_until <= r.created_at, "approved"), else_="pending").label("bucket"),
        r.amount_minor,
        literal("earned").label("kind"),
        r.id.label("reward_id"),
        r.created_at,
    ).where(r.workspace_id == workspace_id)
    moved = select(
        e.account_type,
        e.account_id,
        e.unit,
        e.bucket,
        e.amount_minor,
        e.kind,
        e.reward_id,
        e.created_at,
    ).where(e.workspace_id == workspace_id)
    if account is not None:
        earned = earned.where(*rewards_of(*account))
        moved = moved.where(e.account_type == account[0], e.account_id == account[1])
    return union_all(earned, moved)


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
