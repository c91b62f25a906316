"""A workspace's configuration as the ingest paths read it, cached per process.

Every purchase, click and custom event needs the workspace's programs, the active rules of the
program it is attributed to, its loyalty programs and which webhook endpoints subscribe to which
events. Those change rarely and are read constantly, so each process keeps a snapshot of them
per workspace under ``workspaces.config_version``. Database triggers (migration 0005) change
that value in the same transaction as any change to a program, a rule or a subscription, to a
value never used before; a snapshot is therefore current exactly when its version is the one
the database holds, and reading that version is one indexed lookup.

    config = await current(session, workspace_id)
    rules = config.rules.get(program_id, ())
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import Raw, Sql, raw
from goodwill.errors import NotFound
from goodwill.rules import sets
from goodwill.rules.engine import Rule
from goodwill.rules.service import RULE_FIELDS, rule_of

CACHE_KEY = "goodwill.config_cache"
SESSION_KEY = "goodwill.config"  # the snapshots this transaction has read, by workspace
SHARED = "goodwill.shared"  # see goodwill.db.group_commit
LOYALTY_KINDS = ("stamps", "points")


@dataclass(frozen=True)
class ProgramInfo:
    """A program as the engine and the ledger need it (not an ORM object: it is shared)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    kind: str
    name: str
    currency: str
    status: str
    settings: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class WorkspaceConfig:
    version: int
    programs: Mapping[uuid.UUID, ProgramInfo] = field(default_factory=dict)
    # active rules per program, oldest first (ties in an exclusive group go to the oldest)
    rules: Mapping[uuid.UUID, tuple[Rule, ...]] = field(default_factory=dict)
    # per program, the recorded set of exactly its active rules (goodwill.rules.sets)
    rule_sets: Mapping[uuid.UUID, int] = field(default_factory=dict)
    # active stamps and points programs, oldest first
    loyalty: tuple[ProgramInfo, ...] = ()
    # enabled endpoints and the event type patterns they subscribe to
    subscriptions: tuple[tuple[uuid.UUID, tuple[str, ...]], ...] = ()

    def program(self, program_id: uuid.UUID, *, param: str | None = None) -> ProgramInfo:
        found = self.programs.get(program_id)
        if found is None:
            raise NotFound(f"No program {program_id}", param=param)
        return found


class ConfigCache:
    """The snapshots of one process, by workspace."""

    def __init__(self) -> None:
        self._snapshots: dict[uuid.UUID, WorkspaceConfig] = {}

    def get(self, workspace_id: uuid.UUID, version: int) -> WorkspaceConfig | None:
        found = self._snapshots.get(workspace_id)
        return found if found is not None and found.version == version else None

    def put(self, workspace_id: uuid.UUID, config: WorkspaceConfig) -> None:
        self._snapshots[workspace_id] = config


_VERSION = Sql("SELECT config_version FROM workspaces WHERE id = :workspace_id")
_PROGRAMS = Sql(
    "SELECT id, kind, name, currency, status, settings, created_at FROM programs "
    "WHERE workspace_id = :workspace_id ORDER BY id"
)
_RULE_COLUMNS = ", ".join(f'"{name}"' for name in RULE_FIELDS)
_RULES = Sql(
    f"SELECT program_id, {_RULE_COLUMNS} FROM reward_rules "  # noqa: S608 - fixed names, no input
    "WHERE workspace_id = :workspace_id AND active ORDER BY id"
)
_SUBSCRIPTIONS = Sql(
    "SELECT id, event_types FROM webhook_endpoints WHERE workspace_id = :workspace_id "
    "AND enabled AND deleted_at IS NULL ORDER BY id"
)


async def current(
    session: AsyncSession, workspace_id: uuid.UUID, *, version: int | None = None
) -> WorkspaceConfig:
    """The workspace's configuration as this transaction sees it: read once per transaction
    (services that change it call :func:`forget`), from the process's cache when current.

    ``version``: the ``config_version`` the caller already read (authentication does), to
    spare the lookup when the cache holds that version; otherwise it is read in this
    transaction.
    """
    seen: dict[uuid.UUID, WorkspaceConfig] = session.info.setdefault(SESSION_KEY, {})
    if (found_here := seen.get(workspace_id)) is not None:
        return found_here
    db = await raw(session)
    shared: dict[str, Any] | None = session.info.get(SHARED)
    cache: ConfigCache | None = None
    if shared is not None:
        cache = shared.get(CACHE_KEY)
        if cache is None:
            cache = shared[CACHE_KEY] = ConfigCache()
    snapshot = None if cache is None or version is None else cache.get(workspace_id, version)
    if snapshot is None:
        # What is loaded is labelled with the version this transaction reads, never with one
        # read outside it: on SQLite a transaction also sees the uncommitted writes of the ones
        # before it in its batch (goodwill.db.group_commit), which a failed COMMIT undoes while
        # the version read outside stays the committed one.
        found = await db.scalar(_VERSION, workspace_id=workspace_id)
        version = 0 if found is None else int(found)
        snapshot = None if cache is None else cache.get(workspace_id, version)
        if snapshot is None:
            snapshot = await _load(db, workspace_id, version)
            if cache is not None:
                cache.put(workspace_id, snapshot)
    seen[workspace_id] = snapshot
    return snapshot


async def record_rules(
    session: AsyncSession, workspace_id: uuid.UUID, program_id: uuid.UUID, now: datetime
) -> None:
    """After a change to ``program_id``'s rules, in its transaction: record the set of its
    active rules as they are now (``goodwill.rules.sets``). Read afresh, not from a snapshot:
    one labelled with this transaction's version would be cached without the set."""
    loaded = await _load(await raw(session), workspace_id, 0)
    await sets.record(session, workspace_id, program_id, loaded.rules.get(program_id, ()), now)


def forget(session: AsyncSession) -> None:
    """After changing programs, rules or endpoints: this transaction reads them again (the
    triggers already gave the workspace a new ``config_version``)."""
    session.info.pop(SESSION_KEY, None)


async def _load(db: Raw, workspace_id: uuid.UUID, version: int) -> WorkspaceConfig:
    programs = {
        (pid := db.uuid_of(row[0])): ProgramInfo(
            id=pid,
            workspace_id=workspace_id,
            kind=row[1],
            name=row[2],
            currency=row[3],
            status=row[4],
            settings=db.json_of(row[5]) or {},
            created_at=db.time_of(row[6]),
        )
        for row in await db.all(_PROGRAMS, workspace_id=workspace_id)
    }
    rules: dict[uuid.UUID, list[Rule]] = {}
    for row in await db.all(_RULES, workspace_id=workspace_id):
        rules.setdefault(db.uuid_of(row[0]), []).append(_rule(db, row))
    loyalty = tuple(
        p for p in programs.values() if p.kind in LOYALTY_KINDS and p.status == "active"
    )
    subscriptions = tuple(
        (db.uuid_of(row[0]), tuple(db.json_of(row[1]) or ()))
        for row in await db.all(_SUBSCRIPTIONS, workspace_id=workspace_id)
    )
    active = {pid: tuple(found) for pid, found in rules.items()}
    return WorkspaceConfig(
        version=version,
        programs=programs,
        rules=active,
        rule_sets=await sets.known(db, workspace_id, active),
        loyalty=loyalty,
        subscriptions=subscriptions,
    )


def _rule(db: Raw, row: tuple[Any, ...]) -> Rule:
    fields = dict(zip(RULE_FIELDS, row[1:], strict=True))
    fields["id"] = db.uuid_of(fields["id"])
    fields["conditions"] = db.json_of(fields["conditions"])
    return rule_of(fields)
