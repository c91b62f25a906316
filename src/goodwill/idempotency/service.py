"""Claiming a key inside the request's transaction, and recording the answer before commit.

The claim is an insert-or-nothing on ``(workspace_id, key)``. On PostgreSQL a concurrent claim
of the same key waits on the first transaction's row lock and then finds its row *with* the
stored answer (both committed together); on SQLite writers are serialized. So a key executes
once, and a crash between the write and the answer cannot happen: they are one commit.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import IdempotencyConflict, ValidationFailed
from goodwill.idempotency.models import IdempotencyKey

MAX_KEY_LENGTH = 255


class StoredResponse(msgspec.Struct, frozen=True):
    status_code: int
    body: bytes


class Replay(Exception):
    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.single(
            "Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable characters"
        )
    return key


async def claim(
    session: AsyncSession, workspace_id: uuid.UUID, key: str, fingerprint: str, now: datetime
) -> None:
    """Claim ``key`` for this request, or raise :class:`Replay` / :class:`IdempotencyConflict`."""
    table = IdempotencyKey.__table__
    inserted = await insert_or_nothing(
        session,
        table,  # type: ignore[arg-type]
        {"workspace_id": workspace_id, "key": key, "request_hash": fingerprint, "created_at": now},
        ["workspace_id", "key"],
    )
    if inserted:
        return
    row = (
        await session.execute(
            select(IdempotencyKey).where(
                IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key == key
            )
        )
    ).scalar_one()
    if row.request_hash != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new request",
            param="Idempotency-Key",
        )
    # The answer was stored in the same commit as the claim.
    assert row.status_code is not None
    assert row.response_body is not None
    raise Replay(StoredResponse(status_code=row.status_code, body=row.response_body))


async def record(
    session: AsyncSession, workspace_id: uuid.UUID, key: str, status_code: int, body: bytes
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key == key)
        .values(status_code=status_code, response_body=body)
    )


async def purge(session: AsyncSession, now: datetime, retention: timedelta) -> int:
    """Forget keys older than ``retention`` (at least 24 hours, by configuration)."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < now - retention)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
