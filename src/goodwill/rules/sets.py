"""Rule sets: a program's active rules, by id and name, written once and named by their digest.

Every purchase attributed to a program explains each of the program's active rules: its id
and name, whether it fired and why not. The ids and names are the same in every purchase
until a rule changes, and were more than half of an explanation's packed bytes. So each
change to a program's rules records the set of its active rules after the change, in the
same transaction (:func:`record`), and a purchase decided with that set names it instead
(``goodwill.purchases.explained``): its entries follow the set's order.

A set's id is a 63-bit digest of its program and what it lists (:func:`digest`): the same rules
are one row however often they return, a set read anywhere can be cached by its id alone (two
different sets are never one id, short of a SHA-256 collision in 63 bits), and nothing about
it depends on which transaction wrote it first. The workspace's configuration snapshot
(``goodwill.workspaces.config``) carries, for each program, the id of the set of exactly its
active rules when that set is in the database; when it is not (rules changed by hand in the
database, or by a path that forgot to record them), purchases keep every rule's id and name,
as before sets existed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.packed import json_bytes
from goodwill.db.raw import Raw, Sql, insert_into, raw
from goodwill.rules.engine import Rule
from goodwill.rules.models import RuleSet

Listed = tuple[tuple[str, str], ...]  # (rule id, rule name), in the engine's order

_TABLE: Table = RuleSet.__table__  # type: ignore[assignment]
_INSERT = insert_into(_TABLE, on_conflict=("workspace_id", "id"))
_CACHE_LIMIT = 4096
_cache: dict[tuple[uuid.UUID, int], Listed] = {}


def listed(rules: Sequence[Rule]) -> Listed:
    return tuple((str(rule.id), rule.name) for rule in rules)


def digest(program_id: uuid.UUID, rules: Listed) -> int:
    """The id of the set of ``rules`` in ``program_id``: the first 63 bits of the SHA-256 of
    their JSON (migration 0024 computes the same for the sets it writes)."""
    text = json_bytes([str(program_id), [list(rule) for rule in rules]])
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def _remember(workspace_id: uuid.UUID, set_id: int, rules: Listed) -> None:
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[(workspace_id, set_id)] = rules


async def record(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    program_id: uuid.UUID,
    rules: Sequence[Rule],
    now: datetime,
) -> None:
    """After a change to ``program_id``'s rules, in its transaction: the set of its active
    ``rules`` now (in the engine's order), unless it was recorded before."""
    if not rules:
        return
    found = listed(rules)
    await (await raw(session)).one(
        _INSERT,
        workspace_id=workspace_id,
        id=digest(program_id, found),
        program_id=program_id,
        rules=[list(rule) for rule in found],
        created_at=now,
    )


_KNOWN: dict[int, Sql] = {}


def _known_sql(count: int) -> Sql:
    found = _KNOWN.get(count)
    if found is None:
        marks = ", ".join(f":id{i}" for i in range(count))
        found = _KNOWN[count] = Sql(
            "SELECT id, rules FROM rule_sets "  # noqa: S608 - only placeholders are interpolated
            f"WHERE workspace_id = :workspace_id AND id IN ({marks})"
        )
    return found


async def _read(db: Raw, workspace_id: uuid.UUID, ids: Collection[int]) -> dict[int, Listed]:
    """The sets ``ids`` that are in the database, as they were written."""
    wanted = sorted(set(ids))
    found: dict[int, Listed] = {}
    for start in range(0, len(wanted), 100):
        chunk = wanted[start : start + 100]
        params: dict[str, Any] = {f"id{i}": v for i, v in enumerate(chunk)}
        for set_id, rules in await db.all(
            _known_sql(len(chunk)), workspace_id=workspace_id, **params
        ):
            found[int(set_id)] = tuple((str(i), str(n)) for i, n in db.json_of(rules))
    return found


async def known(
    db: Raw, workspace_id: uuid.UUID, active: dict[uuid.UUID, tuple[Rule, ...]]
) -> dict[uuid.UUID, int]:
    """For the configuration snapshot: each program's set of exactly its ``active`` rules,
    where the database holds it."""
    wanted = {pid: (digest(pid, listed(rules)), listed(rules)) for pid, rules in active.items()}
    if not wanted:
        return {}
    stored = await _read(db, workspace_id, [set_id for set_id, _ in wanted.values()])
    sets: dict[uuid.UUID, int] = {}
    for program_id, (set_id, rules) in wanted.items():
        if stored.get(set_id) == rules:
            sets[program_id] = set_id
            _remember(workspace_id, set_id, rules)
    return sets


async def read(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Collection[int]
) -> dict[int, Listed]:
    """The sets ``ids`` of the workspace (explanations name them), from this process's memory
    when it has read them before. One that is not in the database is left out."""
    found = {i: rules for i in ids if (rules := _cache.get((workspace_id, i))) is not None}
    missing = [i for i in ids if i not in found]
    if missing:
        for set_id, rules in (await _read(await raw(session), workspace_id, missing)).items():
            _remember(workspace_id, set_id, rules)
            found[set_id] = rules
    return found
