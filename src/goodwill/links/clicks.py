"""Recording a click and building its redirect: the hottest public path.

Fast path (no ``click`` rules in the program): hand-written SQL (:mod:`goodwill.db.raw`) with no
session (``Database.run_write``), answered once the click is durable. A link followed before in
this process is in the process's :class:`LinkCache`, and its click is then **one** statement:
an ``INSERT … SELECT`` from the link's row that writes the click only if that row still holds
every value the cache remembers (code, ids, destination, default UTM) and the program still has
no active click rules. When it writes nothing, the cached entry is dropped and the click takes
the uncached path: one indexed lookup of the link by code (which also says whether the program
has click rules) and one insert. So a click never follows a link as it was: whatever changes a
link, in this process or another, the next click sees it.

On PostgreSQL the clicks through cached links that arrive while one such statement is in flight
share the next one (:mod:`goodwill.db.coalesce`): an ``INSERT … SELECT`` from ``unnest`` of
their values, joined to the links' rows with the same checks, returning the ids it wrote; each
click is answered once that statement has committed, and one whose row it did not write takes
the uncached path. On SQLite clicks are jobs of the group commit, whose batches share a commit
in the same way.

Only a program with click rules takes the full path through the rules engine (and stores the
explanation on the click).

The visitor's IP is never stored: only ``HMAC-SHA256(salt, workspace id + IP)``. The salt is
``GOODWILL_IP_HASH_SALT`` if set, else a random value this install generates once and keeps in
``install_secrets``; the same visitor hashes the same within a workspace and differently across
workspaces, and nobody without the salt can test an IP against a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Table, select

from goodwill.db import Database
from goodwill.db.coalesce import Coalesced
from goodwill.db.raw import Raw, Sql, insert_into, json_text, raw
from goodwill.db.upsert import insert_or_nothing
from goodwill.ids import new_id, random_token
from goodwill.links.models import Click, InstallSecret
from goodwill.links.schemas import UTM_FIELDS
from goodwill.rewards import grant
from goodwill.rules.engine import Occurrence
from goodwill.workspaces import config as workspace_config

CLICKS: Table = Click.__table__  # type: ignore[assignment]
SECRETS: Table = InstallSecret.__table__  # type: ignore[assignment]
SALT_NAME = "ip_hash_salt"
MAX_REFERRER = 2000
MAX_USER_AGENT = 500
MAX_UTM = 200
CACHE_KEY = "goodwill.link_cache"  # in Database.shared
TOGETHER_KEY = "goodwill.clicks_together"  # in Database.shared (PostgreSQL)
CACHE_SIZE = 4096  # links; about 1.5 KB each

_CLICK_RULES = (
    "EXISTS (SELECT 1 FROM reward_rules r WHERE r.workspace_id = l.workspace_id "
    "AND r.program_id = l.program_id AND r.\"trigger\" = 'click' AND r.active)"
)
# The link, and whether its program has active click rules (then the click takes the full path).
_LOOKUP = Sql(
    "SELECT l.id, l.workspace_id, l.program_id, l.promoter_id, l.destination_url, "  # noqa: S608 - fixed text, no input
    f"l.utm_params, {_CLICK_RULES} FROM referral_links l WHERE l.code = :code"
)
_INSERT = insert_into(CLICKS)
# A click without click rules explains nothing: JSON null, as clicks have always stored it.
NO_EXPLANATION = json_text(None)
# The click through a cached link on SQLite: written only if the link's row still is what the
# cache holds and its program still has no click rules. The ids come from that row itself.
_RECORD = Sql(
    'INSERT INTO clicks ("id", "workspace_id", "link_id", "program_id", "promoter_id", '  # noqa: S608 - fixed text, no input
    '"utm_params", "referrer", "user_agent", "ip_hash", "explanation", "created_at") '
    "SELECT :id, l.workspace_id, l.id, l.program_id, l.promoter_id, :utm_params, "
    ":referrer, :user_agent, :ip_hash, :explanation, :created_at "
    "FROM referral_links l WHERE l.code = :code AND l.id = :link_id "
    "AND l.workspace_id = :workspace_id AND l.program_id = :program_id "
    "AND l.promoter_id = :promoter_id AND l.destination_url = :destination_url "
    f"AND l.utm_params = :link_utm AND NOT {_CLICK_RULES}"
)


# Cached clicks on PostgreSQL, many in one statement: the same checks as _RECORD, row by row.
_TOGETHER = Sql(
    'INSERT INTO clicks ("id", "workspace_id", "link_id", "program_id", "promoter_id", '  # noqa: S608 - fixed text, no input
    '"utm_params", "referrer", "user_agent", "ip_hash", "explanation", "created_at") '
    "SELECT v.id, l.workspace_id, l.id, l.program_id, l.promoter_id, v.utm_params::jsonb, "
    "v.referrer, v.user_agent, v.ip_hash, v.explanation::jsonb, v.created_at "
    "FROM unnest(CAST(:id AS uuid[]), CAST(:code AS text[]), CAST(:link_id AS uuid[]), "
    "CAST(:workspace_id AS uuid[]), CAST(:program_id AS uuid[]), CAST(:promoter_id AS uuid[]), "
    "CAST(:destination_url AS text[]), CAST(:link_utm AS text[]), CAST(:utm_params AS text[]), "
    "CAST(:referrer AS text[]), CAST(:user_agent AS text[]), CAST(:ip_hash AS text[]), "
    "CAST(:explanation AS text[]), CAST(:created_at AS timestamptz[])) "
    "AS v(id, code, link_id, workspace_id, program_id, promoter_id, destination_url, link_utm, "
    "utm_params, referrer, user_agent, ip_hash, explanation, created_at) "
    "JOIN referral_links l ON l.code = v.code AND l.id = v.link_id "
    "AND l.workspace_id = v.workspace_id AND l.program_id = v.program_id "
    "AND l.promoter_id = v.promoter_id AND l.destination_url = v.destination_url "
    f"AND l.utm_params = v.link_utm::jsonb WHERE NOT {_CLICK_RULES} "
    'RETURNING clicks."id"'
)
_TOGETHER_COLUMNS = (
    "id",
    "code",
    "link_id",
    "workspace_id",
    "program_id",
    "promoter_id",
    "destination_url",
    "link_utm",
    "utm_params",
    "referrer",
    "user_agent",
    "ip_hash",
    "explanation",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class _Link:
    """A link as a click needs it; ``stored`` is its row's values as the driver gave them (and
    takes them back), which a cached link's click compares with the row."""

    code: str
    id: uuid.UUID
    workspace_id: uuid.UUID
    program_id: uuid.UUID
    promoter_id: uuid.UUID
    destination_url: str
    utm_params: dict[str, str]
    click_rules: bool
    stored: dict[str, Any]

    @classmethod
    def of(cls, db: Raw, code: str, row: tuple[Any, ...]) -> _Link:
        link_id, workspace_id, program_id, promoter_id, destination, utm, click_rules = row
        return cls(
            code=code,
            id=db.uuid_of(link_id),
            workspace_id=db.uuid_of(workspace_id),
            program_id=db.uuid_of(program_id),
            promoter_id=db.uuid_of(promoter_id),
            destination_url=destination,
            utm_params=db.json_of(utm) or {},
            click_rules=bool(click_rules),
            stored={
                "code": code,
                "link_id": link_id,
                "workspace_id": workspace_id,
                "program_id": program_id,
                "promoter_id": promoter_id,
                "destination_url": destination,
                "link_utm": utm,
            },
        )


class LinkCache:
    """The links this process has followed, by code (bounded: the oldest entries go first).
    An entry is only a guess: a click through it writes nothing unless the link's row still
    matches it (see the module's docstring)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._links: dict[str, _Link] = {}

    def get(self, code: str) -> _Link | None:
        return self._links.get(code)

    def put(self, link: _Link) -> None:
        links = self._links
        if link.code not in links and len(links) >= self._size:
            del links[next(iter(links))]
        links[link.code] = link

    def drop(self, code: str) -> None:
        self._links.pop(code, None)

    def __len__(self) -> int:
        return len(self._links)


def link_cache(db: Database) -> LinkCache:
    cache: LinkCache | None = db.shared.get(CACHE_KEY)
    if cache is None:
        cache = db.shared[CACHE_KEY] = LinkCache()
    return cache


Row = dict[str, Any]  # a cached click's values and its link's stored values


async def _write_together(sql: Raw, rows: Sequence[Row]) -> list[bool]:
    """Each row written or not (its link changed): one statement for all of them."""
    # Tuples, not lists: binding turns a list into JSON text, a tuple into a PostgreSQL array.
    columns = {name: tuple(sql.bind(row[name]) for row in rows) for name in _TOGETHER_COLUMNS}
    written = {sql.uuid_of(found[0]) for found in await sql.all(_TOGETHER, **columns)}
    return [row["id"] in written for row in rows]


def clicks_together(db: Database) -> Coalesced[Row, bool]:
    """This process's queue of cached PostgreSQL clicks (see the module's docstring)."""
    together: Coalesced[Row, bool] | None = db.shared.get(TOGETHER_KEY)
    if together is None:
        together = db.shared[TOGETHER_KEY] = Coalesced(db.statements, _write_together)
    return together


@dataclass(frozen=True, slots=True)
class Visit:
    """What a visitor's request tells: UTM query parameters, referrer, user agent and IP."""

    utm: dict[str, str]
    referrer: str | None
    user_agent: str | None
    ip: str | None


def utm_from_query(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in items:
        if key in UTM_FIELDS and isinstance(value, str) and value and "\x00" not in value:
            found[key] = value[:MAX_UTM]
    return found


def hash_ip(salt: str, workspace_id: uuid.UUID, ip: str | None) -> str | None:
    if not ip:
        return None
    digest = _keyed(salt).copy()  # the key's setup done once
    digest.update(workspace_id.bytes + ip.encode())
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _keyed(salt: str) -> hmac.HMAC:
    return hmac.new(salt.encode(), digestmod=hashlib.sha256)


@lru_cache(maxsize=1024)
def _split(destination: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """The destination up to its query, its own query parameters (each encoded as
    ``urlencode`` would), and its fragment: what ``urlunsplit`` would put around a query."""
    parts = urlsplit(destination)
    own = parse_qsl(parts.query, keep_blank_values=True)
    return (
        urlunsplit(parts._replace(query="", fragment="")),
        tuple((k, urlencode([(k, v)])) for k, v in own),
        f"#{parts.fragment}" if parts.fragment else "",
    )


@lru_cache(maxsize=4096)
def _around(destination: str, utm: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """What comes before and after ``gw_click=<id>`` for this destination and these UTM
    parameters (many clicks share both)."""
    head, own, fragment = _split(destination)
    added = {k for k, _ in utm}
    added.add("gw_click")
    query = [encoded for k, encoded in own if k not in added]
    if utm:
        query.append(urlencode(utm))
    query.append("")
    return f"{head}?{'&'.join(query)}", fragment


def redirect_url(destination: str, utm: dict[str, str], click_id: uuid.UUID) -> str:
    """The destination with the click's UTM parameters and ``gw_click`` set; its other query
    parameters are kept in order. (``urlunsplit`` of the destination with
    ``urlencode(kept + added)`` as its query; a click id needs no escaping.)"""
    before, after = _around(destination, tuple(utm.items()))
    return f"{before}gw_click={click_id}{after}"


async def install_salt(db: Database, configured: str, now: datetime) -> str:
    """``GOODWILL_IP_HASH_SALT``, or the salt this install generated for itself once."""
    if configured:
        return configured
    async with db.transaction() as session:
        await insert_or_nothing(
            session,
            SECRETS,
            {"name": SALT_NAME, "value": random_token(32), "created_at": now},
            ["name"],
        )
        value = (
            await session.execute(select(SECRETS.c.value).where(SECRETS.c.name == SALT_NAME))
        ).scalar_one()
    return str(value)


def _click_values(
    link: _Link, click_id: uuid.UUID, visit: Visit, salt: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": click_id,
        "workspace_id": link.workspace_id,
        "link_id": link.id,
        "program_id": link.program_id,
        "promoter_id": link.promoter_id,
        "utm_params": {**link.utm_params, **visit.utm},
        "referrer": None if visit.referrer is None else visit.referrer[:MAX_REFERRER],
        "user_agent": None if visit.user_agent is None else visit.user_agent[:MAX_USER_AGENT],
        "ip_hash": hash_ip(salt, link.workspace_id, visit.ip),
        "explanation": NO_EXPLANATION,
        "created_at": now,
    }


async def follow(
    db: Database, code: str, visit: Visit, *, salt: str, now: datetime, source: str
) -> str | None:
    """Record a click through ``code``; the URL to send the visitor to, or None if unknown."""
    click_id = new_id()
    cache = link_cache(db)
    cached = cache.get(code)
    if cached is not None and not db.is_sqlite:
        values = _click_values(cached, click_id, visit, salt, now)
        if await clicks_together(db).submit({**values, **cached.stored}):
            return redirect_url(cached.destination_url, values["utm_params"], click_id)
        cache.drop(code)  # the link changed (or its program has click rules now)

    async def record(sql: Raw) -> tuple[_Link, dict[str, Any]] | None:
        """The click, unless its program has click rules: the link and the click's values.
        A cached link is tried here on SQLite only; PostgreSQL's went together, above."""
        link = cache.get(code) if db.is_sqlite else None
        if link is not None:
            values = _click_values(link, click_id, visit, salt, now)
            if await sql.changed(_RECORD, **{**values, **link.stored}):
                return link, values
            cache.drop(code)  # the link changed (or its program has click rules now)
        row = await sql.one(_LOOKUP, code=code)
        if row is None:
            return None
        link = _Link.of(sql, code, row)
        values = _click_values(link, click_id, visit, salt, now)
        if not link.click_rules:
            await sql.run(_INSERT, **values)
            cache.put(link)
        return link, values

    found = await db.run_write(record)
    if found is None:
        return None
    link, values = found
    if link.click_rules:
        await _follow_with_rules(db, link, values, now=now, source=source)
    return redirect_url(link.destination_url, values["utm_params"], click_id)


async def _follow_with_rules(
    db: Database, link: _Link, values: dict[str, Any], *, now: datetime, source: str
) -> None:
    """The full path: the click and what the program's click rules grant, in one transaction."""
    async with db.transaction() as session:
        config = await workspace_config.current(session, link.workspace_id)
        program = config.program(link.program_id)
        occurrence = Occurrence(
            trigger="click",
            at=now,
            now=now,
            program_status=program.status,
            program_currency=program.currency,
            facts={"utm": values["utm_params"], "referrer": values["referrer"]},
        )
        target = grant.Target(
            program=program,
            promoter_id=link.promoter_id,
            referral_id=None,
            customer_id=None,
            source_type="click",
            source_id=values["id"],
        )
        decisions, reward_ids = await grant.decide_for(session, target, occurrence)
        explanation = {"rules": grant.explain(decisions, reward_ids)}
        await (await raw(session)).run(_INSERT, **{**values, "explanation": explanation})
        await grant.write(session, target, decisions, reward_ids, now=now, source=source)
