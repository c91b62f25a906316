"""Referral links: vanity or generated codes, destinations with default UTM parameters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.repository import Repository
from goodwill.db.upsert import insert_or_nothing
from goodwill.errors import Conflict, NotFound, ValidationFailed
from goodwill.http.pagination import fetch_page
from goodwill.ids import new_id, random_code
from goodwill.links.models import Click, ReferralLink
from goodwill.links.schemas import UtmParams
from goodwill.promoters.models import Promoter

LINKS: Table = ReferralLink.__table__  # type: ignore[assignment]
CODE_LENGTH = 8
CODE_ATTEMPTS = 8


class LinkRepository(Repository[ReferralLink]):
    model = ReferralLink
    noun = "referral link"

    async def by_code(self, code: str) -> ReferralLink | None:
        return (await self.session.scalars(self.select().where(ReferralLink.code == code))).first()


class ClickRepository(Repository[Click]):
    model = Click
    noun = "click"


async def create(
    session: AsyncSession,
    promoter: Promoter,
    *,
    destination_url: str | None,
    program_settings: dict[str, Any],
    code: str | None,
    utm_params: UtmParams | None,
    now: datetime,
) -> ReferralLink:
    """A link for ``promoter``: the vanity ``code`` (409 if taken) or a generated one."""
    destination = destination_url or program_settings.get("destination_url")
    if destination is None:
        raise ValidationFailed.single(
            "destination_url",
            "give destination_url, or set settings.destination_url on the program",
        )
    link_id = new_id()
    values = {
        "id": link_id,
        "workspace_id": promoter.workspace_id,
        "program_id": promoter.program_id,
        "promoter_id": promoter.id,
        "destination_url": destination,
        "utm_params": utm_params.as_dict() if utm_params else {},
        "created_at": now,
        "updated_at": now,
    }
    if code is not None:
        if not await insert_or_nothing(session, LINKS, {**values, "code": code}, ["code"]):
            raise Conflict(f"The code {code!r} is taken; choose another", param="code")
    else:
        for _ in range(CODE_ATTEMPTS):
            if await insert_or_nothing(
                session, LINKS, {**values, "code": random_code(CODE_LENGTH)}, ["code"]
            ):
                break
        else:  # 56^8 codes: only a nearly full space gets here
            raise Conflict("Could not find a free code; give a vanity code", param="code")
    return await LinkRepository(session, promoter.workspace_id).get(link_id)


async def get(session: AsyncSession, workspace_id: uuid.UUID, link_id: uuid.UUID) -> ReferralLink:
    return await LinkRepository(session, workspace_id).get(link_id)


async def by_code(
    session: AsyncSession, workspace_id: uuid.UUID, code: str, *, param: str = "code"
) -> ReferralLink:
    link = await LinkRepository(session, workspace_id).by_code(code)
    if link is None:
        raise NotFound(f"No referral link with code {code!r}", param=param)
    return link


async def default_links(
    session: AsyncSession, workspace_id: uuid.UUID, promoter_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ReferralLink]:
    """Each promoter's first link."""
    if not promoter_ids:
        return {}
    stmt = (
        LinkRepository(session, workspace_id)
        .select()
        .where(ReferralLink.promoter_id.in_(promoter_ids))
        .order_by(ReferralLink.id.desc())
    )
    return {link.promoter_id: link for link in (await session.scalars(stmt)).all()}


async def list_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    promoter_id: uuid.UUID | None,
    program_id: uuid.UUID | None,
    code: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[ReferralLink], str | None]:
    stmt = LinkRepository(session, workspace_id).select()
    if promoter_id is not None:
        stmt = stmt.where(ReferralLink.promoter_id == promoter_id)
    if program_id is not None:
        stmt = stmt.where(ReferralLink.program_id == program_id)
    if code is not None:
        stmt = stmt.where(ReferralLink.code == code)
    return await fetch_page(session, stmt, ReferralLink.id, limit, cursor)


async def get_click(
    session: AsyncSession, workspace_id: uuid.UUID, click_id: uuid.UUID, *, param: str | None = None
) -> Click:
    return await ClickRepository(session, workspace_id).get(click_id, param=param)


async def list_clicks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    link_id: uuid.UUID | None,
    promoter_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Click], str | None]:
    stmt = ClickRepository(session, workspace_id).select()
    if link_id is not None:
        stmt = stmt.where(Click.link_id == link_id)
    if promoter_id is not None:
        stmt = stmt.where(Click.promoter_id == promoter_id)
    return await fetch_page(session, stmt, Click.id, limit, cursor)


async def click_count(
    session: AsyncSession, workspace_id: uuid.UUID, promoter_id: uuid.UUID
) -> int:
    stmt = select(func.count()).where(
        Click.workspace_id == workspace_id, Click.promoter_id == promoter_id
    )
    return int((await session.execute(stmt)).scalar_one())
