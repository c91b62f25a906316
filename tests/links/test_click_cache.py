"""The click fast path (goodwill.links.clicks): a link followed before is clicked in one
statement that checks the link is still what the process remembers. These tests change links
behind the process's back, the way another process (a second ``goodwill serve``, the CLI, an
operator's SQL) would, and check that no click ever follows a link as it was.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from contextlib import closing
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import insert

from goodwill.db import Database, sqlite_inline
from goodwill.db.engine import sqlite_path
from goodwill.db.raw import Raw, Sql, raw
from goodwill.links import clicks
from goodwill.links.clicks import LinkCache, clicks_together, hash_ip, install_salt, link_cache
from goodwill.links.models import Click
from goodwill.settings import Settings
from tests.conftest import POSTGRES_ONLY, SQLITE_ONLY, FakeClock, Tenant, count_rows
from tests.kit import Kit, code_of

# Everything a click stores but its id, as the driver reads it back (SQLite: the stored text),
# and whether the explanation is SQL NULL (PostgreSQL's driver reads JSON null as None too).
COLUMNS = (
    "workspace_id, link_id, program_id, promoter_id, utm_params, referrer, user_agent, "
    "ip_hash, explanation, created_at, explanation IS NULL"
)
VISIT = "?utm_campaign=spring&utm_source=newsletter&other=1"
HEADERS = {"Referer": "https://blog.example/post", "User-Agent": "Browser/1.0"}


async def follow(client: AsyncClient, code: str, query: str = VISIT) -> Response:
    return await client.get(f"/r/{code}{query}", headers=HEADERS)


def click_id_of(response: Response) -> uuid.UUID:
    assert response.status_code == 302, response.text
    return uuid.UUID(dict(parse_qsl(urlsplit(response.headers["location"]).query))["gw_click"])


async def stored(db: Database, click_id: uuid.UUID) -> tuple[Any, ...] | None:
    """The click's row as stored, read on a connection of its own."""
    async with db.transaction(write=False) as session:
        sql = Sql(f"SELECT {COLUMNS} FROM clicks WHERE id = :id")  # noqa: S608 - fixed text
        return await (await raw(session)).one(sql, id=click_id)


async def remembered_code(client: AsyncClient, tenant: Tenant) -> str:
    """A new promoter's link, followed once so that this process remembers it: its code."""
    kit = Kit(client, tenant)
    code = code_of(await kit.promoter(await kit.program()))
    click_id_of(await follow(client, code))
    return code


async def elsewhere(settings: Settings, sql: str, **params: Any) -> None:
    """A change made by another process: its own engine and connections."""
    other = Database(settings)
    try:
        async with other.transaction() as session:
            await (await raw(session)).run(Sql(sql), **params)
    finally:
        await other.dispose()


async def test_a_click_through_a_cached_link_is_one_statement_and_stores_the_same_row(
    client: AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program, utm_params={"utm_source": "ada", "utm_medium": "social"})
    first = await follow(client, code_of(ada))
    assert code_of(ada) in link_cache(db)._links
    # From now on a lookup would fail: the second click must not make one.
    monkeypatch.setattr(clicks, "_LOOKUP", Sql("SELECT no_such_column FROM referral_links"))
    second = await follow(client, code_of(ada))

    one, two = click_id_of(first), click_id_of(second)
    assert first.headers["location"].replace(str(one), "") == second.headers["location"].replace(
        str(two), ""
    )
    location = urlsplit(first.headers["location"])
    assert location.geturl().startswith("https://shop.example/welcome?ref=1&")
    query = parse_qsl(location.query)
    assert query[-1] == ("gw_click", str(one))
    assert dict(query) == {
        "ref": "1",
        "utm_source": "newsletter",  # the visit's over the link's
        "utm_medium": "social",
        "utm_campaign": "spring",
        "gw_click": str(one),
    }
    # Both rows exactly as the SQLAlchemy Core insert that clicks were written with stores one.
    salt = await install_salt(db, db.settings.ip_hash_salt, clock())
    reference = uuid.uuid4()
    async with db.connection(write=True) as conn:
        await conn.execute(
            insert(Click.__table__),  # the statement, its values as parameters
            {
                "id": reference,
                "workspace_id": tenant.workspace_id,
                "link_id": uuid.UUID(ada["default_link"]["id"]),
                "program_id": uuid.UUID(program["id"]),
                "promoter_id": uuid.UUID(ada["id"]),
                "utm_params": {
                    "utm_source": "newsletter",
                    "utm_medium": "social",
                    "utm_campaign": "spring",
                },
                "referrer": "https://blog.example/post",
                "user_agent": "Browser/1.0",
                "ip_hash": hash_ip(salt, tenant.workspace_id, "127.0.0.1"),
                "explanation": None,
                "created_at": clock(),
            },
        )
    expected = await stored(db, reference)
    assert expected is not None
    assert expected[10] in (False, 0)  # no explanation is JSON null, not SQL NULL
    assert await stored(db, one) == expected
    assert await stored(db, two) == expected


async def test_the_cache_only_holds_links_that_were_followed(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    assert (await client.get("/r/not-a-code")).status_code == 404
    assert "not-a-code" not in link_cache(db)._links
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program, code="made-later")
    assert click_id_of(await follow(client, "made-later"))  # a 404 before is not remembered
    assert code_of(ada) in link_cache(db)._links


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = LinkCache(size=2)

    def link(code: str) -> Any:
        return clicks._Link(
            code=code,
            id=uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            program_id=uuid.uuid4(),
            promoter_id=uuid.uuid4(),
            destination_url="https://x.example/",
            utm_params={},
            click_rules=False,
            stored={},
        )

    for code in ("a", "b", "c"):
        cache.put(link(code))
    assert len(cache) == 2
    assert cache.get("a") is None
    assert cache.get("b") is not None
    assert cache.get("c") is not None
    cache.drop("b")
    assert cache.get("b") is None


Change = Callable[[Settings, Kit, dict[str, Any], dict[str, Any]], Awaitable[None]]


async def new_destination(
    settings: Settings, kit: Kit, program: dict[str, Any], ada: dict[str, Any]
) -> None:
    await elsewhere(
        settings,
        "UPDATE referral_links SET destination_url = :url WHERE id = :id",
        url="https://elsewhere.example/landing?x=2",
        id=uuid.UUID(ada["default_link"]["id"]),
    )


async def new_default_utm(
    settings: Settings, kit: Kit, program: dict[str, Any], ada: dict[str, Any]
) -> None:
    await elsewhere(
        settings,
        "UPDATE referral_links SET utm_params = :utm WHERE id = :id",
        utm={"utm_medium": "email", "utm_term": "moved"},
        id=uuid.UUID(ada["default_link"]["id"]),
    )


async def new_promoter(
    settings: Settings, kit: Kit, program: dict[str, Any], ada: dict[str, Any]
) -> None:
    bo = await kit.promoter(program, name="Bo")
    await elsewhere(
        settings,
        "UPDATE referral_links SET promoter_id = :promoter WHERE id = :id",
        promoter=uuid.UUID(bo["id"]),
        id=uuid.UUID(ada["default_link"]["id"]),
    )
    ada["moved_to"] = bo["id"]


async def click_rule(
    settings: Settings, kit: Kit, program: dict[str, Any], ada: dict[str, Any]
) -> None:
    await kit.rule(program, trigger="click", reward={"type": "fixed", "amount": "0.10"})


async def expect_row(
    db: Database,
    response: Response,
    tenant: Tenant,
    ada: dict[str, Any],
    *,
    utm: dict[str, str],
    promoter: str | None = None,
    explained: bool = False,
) -> None:
    row = await stored(db, click_id_of(response))
    assert row is not None
    workspace_id, link_id, _program, promoter_id, utm_params = row[:5]
    assert db.engine.dialect.name == "postgresql" or isinstance(link_id, bytes)  # 16 bytes
    assert str(Raw.uuid_of(link_id)) == ada["default_link"]["id"]
    assert Raw.uuid_of(workspace_id) == tenant.workspace_id
    assert str(Raw.uuid_of(promoter_id)) == (promoter or ada["id"])

    assert Raw.json_of(utm_params) == utm
    assert (Raw.json_of(row[8]) is not None) == explained


@pytest.mark.parametrize(
    "change", [new_destination, new_default_utm, new_promoter, click_rule], ids=lambda c: c.__name__
)
async def test_a_click_never_follows_a_link_as_it_was(
    client: AsyncClient, tenant: Tenant, db: Database, settings: Settings, change: Change
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program, utm_params={"utm_source": "ada", "utm_medium": "social"})
    before = await follow(client, code_of(ada), "?utm_campaign=spring")
    await expect_row(
        db,
        before,
        tenant,
        ada,
        utm={"utm_source": "ada", "utm_medium": "social", "utm_campaign": "spring"},
    )
    assert code_of(ada) in link_cache(db)._links

    await change(settings, kit, program, ada)
    after = await follow(client, code_of(ada), "?utm_campaign=spring")
    location = after.headers["location"]
    if change is new_destination:
        assert location.startswith("https://elsewhere.example/landing?x=2&utm_")
        utm = {"utm_source": "ada", "utm_medium": "social", "utm_campaign": "spring"}
    elif change is new_default_utm:
        assert "utm_source" not in location
        assert "utm_term=moved" in location
        utm = {"utm_medium": "email", "utm_term": "moved", "utm_campaign": "spring"}
    else:
        utm = {"utm_source": "ada", "utm_medium": "social", "utm_campaign": "spring"}
    await expect_row(
        db,
        after,
        tenant,
        ada,
        utm=utm,
        promoter=ada.get("moved_to"),
        explained=change is click_rule,
    )
    if change is click_rule:
        rewards = await kit.get(f"/v1/rewards?promoter_id={ada['id']}")
        assert [(r["amount"], r["source"]["type"]) for r in rewards["data"]] == [(0.1, "click")]
    # and the click after that goes the same way
    again = await follow(client, code_of(ada), "?utm_campaign=spring")
    assert again.headers["location"].split("gw_click=")[0] == location.split("gw_click=")[0]
    await expect_row(
        db,
        again,
        tenant,
        ada,
        utm=utm,
        promoter=ada.get("moved_to"),
        explained=change is click_rule,
    )


async def test_a_deleted_link_is_a_404_even_when_it_was_cached(
    client: AsyncClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program)
    click_id_of(await follow(client, code_of(ada)))
    link_id = uuid.UUID(ada["default_link"]["id"])
    await elsewhere(settings, "DELETE FROM clicks WHERE link_id = :id", id=link_id)
    await elsewhere(settings, "DELETE FROM referral_links WHERE id = :id", id=link_id)
    r = await follow(client, code_of(ada))
    assert r.status_code == 404
    assert await count_rows(db, "clicks", tenant.workspace_id) == 0
    assert code_of(ada) not in link_cache(db)._links


async def test_a_code_given_to_another_workspace_is_followed_there(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, settings: Settings
) -> None:
    """The cached workspace is part of what the click checks: a code now leading into another
    workspace records the click there, with that workspace's IP hash."""
    kit = Kit(client, tenant)
    ada = await kit.promoter(await kit.program(), code="passed-on")
    click_id_of(await follow(client, "passed-on"))
    link_id = uuid.UUID(ada["default_link"]["id"])
    await elsewhere(settings, "DELETE FROM clicks WHERE link_id = :id", id=link_id)
    await elsewhere(settings, "DELETE FROM referral_links WHERE id = :id", id=link_id)
    other = Kit(client, other_tenant)
    grace = await other.promoter(await other.program(), name="Grace", code="passed-on")

    r = await follow(client, "passed-on")
    row = await stored(db, click_id_of(r))
    assert row is not None
    assert Raw.uuid_of(row[0]) == other_tenant.workspace_id
    assert str(Raw.uuid_of(row[1])) == grace["default_link"]["id"]
    salt = await install_salt(db, db.settings.ip_hash_salt, FakeClock()())
    assert row[7] == hash_ip(salt, other_tenant.workspace_id, "127.0.0.1")
    assert await count_rows(db, "clicks", tenant.workspace_id) == 0


async def test_the_redirect_is_answered_once_the_click_is_durable(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    ada = await kit.promoter(await kit.program())
    for _ in range(2):  # the first click looks the link up, the second goes through the cache
        click_id = click_id_of(await follow(client, code_of(ada)))
        # Another connection (another process) sees the click as soon as the answer came.
        if db.engine.dialect.name == "sqlite":
            path = sqlite_path(db.settings.async_database_url)
            with closing(sqlite3.connect(path)) as conn:
                found = conn.execute(
                    "SELECT count(*) FROM clicks WHERE id = ?", (click_id.bytes,)
                ).fetchone()
            assert found == (1,)
        else:
            other = Database(db.settings)
            try:
                assert await stored(other, click_id) is not None
            finally:
                await other.dispose()


@SQLITE_ONLY
async def test_a_click_whose_commit_fails_is_not_redirected_and_not_stored(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = await remembered_code(client, tenant)
    real_commit = sqlite_inline.Connection.commit
    failures: list[int] = []

    async def failing_once(self: sqlite_inline.Connection) -> None:
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        await real_commit(self)

    monkeypatch.setattr(sqlite_inline.Connection, "commit", failing_once)
    r = await follow(client, code)
    assert failures == [1]
    assert r.status_code == 500
    assert "location" not in r.headers
    assert await count_rows(db, "clicks", tenant.workspace_id) == 1
    click_id_of(await follow(client, code))
    assert await count_rows(db, "clicks", tenant.workspace_id) == 2


async def test_concurrent_clicks_are_each_stored_once(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    codes = [code_of(await kit.promoter(program, name=f"p{i}")) for i in range(5)]
    answers = await asyncio.gather(*(follow(client, codes[i % 5]) for i in range(60)))
    ids = {click_id_of(r) for r in answers}
    assert len(ids) == 60
    assert await count_rows(db, "clicks", tenant.workspace_id) == 60
    for click_id in ids:
        assert await stored(db, click_id) is not None


@POSTGRES_ONLY
async def test_concurrent_cached_clicks_share_statements_on_postgresql(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    promoters = [await kit.promoter(program, name=f"p{i}") for i in range(5)]
    for promoter in promoters:  # each link looked up once, and remembered
        click_id_of(await follow(client, code_of(promoter)))
    together = clicks_together(db)
    before = together.statements
    answers = await asyncio.gather(*(follow(client, code_of(promoters[i % 5])) for i in range(60)))
    assert 1 <= together.statements - before < 60
    for i, answer in enumerate(answers):
        row = await stored(db, click_id_of(answer))
        assert row is not None
        assert str(row[1]) == promoters[i % 5]["default_link"]["id"]
    assert await count_rows(db, "clicks", tenant.workspace_id) == 65


@POSTGRES_ONLY
async def test_a_shared_click_statement_that_fails_answers_none_of_its_clicks(
    client: AsyncClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = await remembered_code(client, tenant)
    working = clicks._TOGETHER
    monkeypatch.setattr(clicks, "_TOGETHER", Sql("INSERT INTO no_such_table VALUES (1)"))
    answers = await asyncio.gather(*(follow(client, code) for _ in range(3)))
    assert [r.status_code for r in answers] == [500, 500, 500]
    assert all("location" not in r.headers for r in answers)
    assert await count_rows(db, "clicks", tenant.workspace_id) == 1
    monkeypatch.setattr(clicks, "_TOGETHER", working)
    click_id_of(await follow(client, code))
    assert await count_rows(db, "clicks", tenant.workspace_id) == 2
