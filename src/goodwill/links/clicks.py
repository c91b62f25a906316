"""Recording a click and building its redirect: the hottest public path.

Fast path (no ``click`` rules in the program): one indexed lookup of the link by code, which
also says whether the program has click rules, and one insert of the click, with Core
statements on one connection. Only a program with click rules takes the full path through the
rules engine (and stores the explanation on the click).

The visitor's IP is never stored: only ``HMAC-SHA256(salt, workspace id + IP)``. The salt is
``GOODWILL_IP_HASH_SALT`` if set, else a random value this install generates once and keeps in
``install_secrets``; the same visitor hashes the same within a workspace and differently across
workspaces, and nobody without the salt can test an IP against a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Table, bindparam, exists, insert, select

from goodwill.db import Database
from goodwill.db.upsert import insert_or_nothing
from goodwill.ids import new_id, random_token
from goodwill.links.models import Click, InstallSecret, ReferralLink
from goodwill.links.schemas import UTM_FIELDS
from goodwill.rewards import grant
from goodwill.rules.engine import Occurrence
from goodwill.rules.models import RewardRule
from goodwill.workspaces import config as workspace_config

LINKS: Table = ReferralLink.__table__  # type: ignore[assignment]
CLICKS: Table = Click.__table__  # type: ignore[assignment]
RULES: Table = RewardRule.__table__  # type: ignore[assignment]
SECRETS: Table = InstallSecret.__table__  # type: ignore[assignment]
SALT_NAME = "ip_hash_salt"
MAX_REFERRER = 2000
MAX_USER_AGENT = 500
MAX_UTM = 200

_LOOKUP = select(
    LINKS.c.id,
    LINKS.c.workspace_id,
    LINKS.c.program_id,
    LINKS.c.promoter_id,
    LINKS.c.destination_url,
    LINKS.c.utm_params,
    exists()
    .where(
        RULES.c.workspace_id == LINKS.c.workspace_id,
        RULES.c.program_id == LINKS.c.program_id,
        RULES.c.trigger == "click",
        RULES.c.active.is_(True),
    )
    .label("click_rules"),
).where(LINKS.c.code == bindparam("code"))
_INSERT = insert(CLICKS)


@dataclass(frozen=True)
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
    message = workspace_id.bytes + ip.encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()


def redirect_url(destination: str, utm: dict[str, str], click_id: uuid.UUID) -> str:
    """The destination with the click's UTM parameters and ``gw_click`` set; its other query
    parameters are kept in order."""
    parts = urlsplit(destination)
    added = {**utm, "gw_click": str(click_id)}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in added]
    query.extend(added.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


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
    row: Any, click_id: uuid.UUID, visit: Visit, salt: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": click_id,
        "workspace_id": row.workspace_id,
        "link_id": row.id,
        "program_id": row.program_id,
        "promoter_id": row.promoter_id,
        "utm_params": {**(row.utm_params or {}), **visit.utm},
        "referrer": None if visit.referrer is None else visit.referrer[:MAX_REFERRER],
        "user_agent": None if visit.user_agent is None else visit.user_agent[:MAX_USER_AGENT],
        "ip_hash": hash_ip(salt, row.workspace_id, visit.ip),
        "explanation": None,
        "created_at": now,
    }


async def follow(
    db: Database, code: str, visit: Visit, *, salt: str, now: datetime, source: str
) -> str | None:
    """Record a click through ``code``; the URL to send the visitor to, or None if unknown."""
    click_id = new_id()
    async with db.connection(write=True) as conn:
        row = (await conn.execute(_LOOKUP, {"code": code})).first()
        if row is None:
            return None
        values = _click_values(row, click_id, visit, salt, now)
        if not row.click_rules:
            await conn.execute(_INSERT, values)
            return redirect_url(row.destination_url, values["utm_params"], click_id)
    await _follow_with_rules(db, row, values, now=now, source=source)
    return redirect_url(row.destination_url, values["utm_params"], click_id)


async def _follow_with_rules(
    db: Database, row: Any, values: dict[str, Any], *, now: datetime, source: str
) -> None:
    """The full path: the click and what the program's click rules grant, in one transaction."""
    async with db.transaction() as session:
        config = await workspace_config.current(session, row.workspace_id)
        program = config.program(row.program_id)
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
            promoter_id=row.promoter_id,
            referral_id=None,
            customer_id=None,
            source_type="click",
            source_id=values["id"],
        )
        decisions, reward_ids = await grant.decide_for(session, target, occurrence)
        explanation = {"rules": grant.explain(decisions, reward_ids)}
        await session.execute(insert(CLICKS).values(**{**values, "explanation": explanation}))
        await grant.write(session, target, decisions, reward_ids, now=now, source=source)
