"""``GET /r/{code}``: the click is recorded, the visitor redirected, the IP never stored."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from httpx import AsyncClient
from sqlalchemy import select, text

from goodwill.db import Database
from goodwill.links.clicks import hash_ip, redirect_url
from goodwill.links.models import Click
from tests.conftest import Tenant, count_rows
from tests.kit import Kit, code_of


def query_of(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


async def test_a_click_is_recorded_and_redirected_with_utm_and_click_id(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    ada = await kit.promoter(program, utm_params={"utm_source": "ada", "utm_medium": "social"})
    r = await client.get(
        f"/r/{code_of(ada)}?utm_campaign=spring&utm_source=newsletter&other=1",
        headers={"Referer": "https://blog.example/post", "User-Agent": "Browser/1.0"},
    )
    assert r.status_code == 302
    assert r.headers["content-type"].startswith("text/plain")
    assert r.content == b""
    location = r.headers["location"]
    assert location.startswith("https://shop.example/welcome?")
    params = query_of(location)
    assert params[0] == ("ref", "1")  # the destination's own parameters are kept first
    found = dict(params)
    assert found["utm_source"] == "newsletter"  # the visit's UTM wins over the link's
    assert found["utm_medium"] == "social"
    assert found["utm_campaign"] == "spring"
    assert "other" not in found  # only UTM parameters are carried over

    async with db.transaction(write=False) as session:
        clicks = (await session.scalars(select(Click))).all()
    [click] = [c for c in clicks if c.workspace_id == tenant.workspace_id]
    assert str(click.id) == found["gw_click"]
    assert (
        click.link_id == ada["default_link"]["id"]
        or str(click.link_id) == ada["default_link"]["id"]
    )
    assert click.utm_params == {
        "utm_source": "newsletter",
        "utm_medium": "social",
        "utm_campaign": "spring",
    }
    assert click.referrer == "https://blog.example/post"
    assert click.user_agent == "Browser/1.0"
    assert click.ip_hash is not None
    assert len(click.ip_hash) == 64
    assert click.explanation is None  # no click rules: the fast path
    # the raw IP is stored nowhere in the row
    async with db.transaction(write=False) as session:
        raw = (
            await session.execute(
                text("SELECT * FROM clicks WHERE id = :id"),
                {"id": click.id if db.dialect == "postgresql" else click.id.bytes},
            )
        ).one()
    assert "127.0.0.1" not in repr(raw)

    got = await kit.get(f"/v1/clicks/{click.id}")
    assert got["utm_params"]["utm_campaign"] == "spring"
    listed = await kit.get(f"/v1/clicks?promoter_id={ada['id']}")
    assert [c["id"] for c in listed["data"]] == [str(click.id)]
    assert (await kit.get(f"/v1/promoters/{ada['id']}"))["stats"]["clicks"] == 1


async def test_the_answers_are_the_headers_litestar_sent_for_them(
    client: AsyncClient, tenant: Tenant
) -> None:
    """The redirect and the 404 page are written straight to the server: byte for byte the
    headers Litestar's Response gave them, with the request id."""
    kit = Kit(client, tenant)
    ada = await kit.promoter(await kit.program())
    r = await client.get(f"/r/{code_of(ada)}?utm_source=x", headers={"X-Request-Id": "req-1"})
    assert r.status_code == 302
    assert r.headers.raw == [
        (b"location", r.headers["location"].encode()),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"0"),
        (b"x-request-id", b"req-1"),
    ]
    r = await client.get("/r/nope-nope", headers={"X-Request-Id": "req-2"})
    assert r.status_code == 404
    assert r.headers.raw == [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"148"),
        (b"x-request-id", b"req-2"),
    ]
    assert len(r.content) == 148
    assert (await client.head(f"/r/{code_of(ada)}")).status_code == 405


async def test_an_unknown_code_is_a_plain_404_page(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    r = await client.get("/r/nope-nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Not found" in r.text
    assert await count_rows(db, "clicks", tenant.workspace_id) == 0


def test_ip_hashes_are_salted_per_install_and_workspace() -> None:
    import uuid

    a, b = uuid.uuid4(), uuid.uuid4()
    assert hash_ip("s1", a, "10.0.0.1") == hash_ip("s1", a, "10.0.0.1")
    assert hash_ip("s1", a, "10.0.0.1") != hash_ip("s1", b, "10.0.0.1")
    assert hash_ip("s1", a, "10.0.0.1") != hash_ip("s2", a, "10.0.0.1")
    assert hash_ip("s1", a, None) is None


def test_redirects_keep_the_destination_and_replace_only_what_they_set() -> None:
    import uuid

    click = uuid.UUID(int=1)
    url = redirect_url(
        "https://shop.example/p?a=1&utm_source=old&gw_click=stale#top", {"utm_source": "new"}, click
    )
    assert url == (
        "https://shop.example/p?a=1&utm_source=new&gw_click=00000000-0000-0000-0000-000000000001#top"
    )


async def test_click_rules_take_the_full_path_and_explain(
    client: AsyncClient, tenant: Tenant, db: Database
) -> None:
    kit = Kit(client, tenant)
    program = await kit.program()
    paid = await kit.rule(
        program,
        trigger="click",
        name="0.05 per click from the newsletter, 2 a day",
        reward={"type": "fixed", "amount": "0.05"},
        conditions={"field": "utm.utm_source", "op": "eq", "value": "newsletter"},
        limits={"per_promoter": {"period": "day", "max_count": 2}},
    )
    ada = await kit.promoter(program)
    for source in ("newsletter", "newsletter", "newsletter", "ads"):
        r = await client.get(f"/r/{code_of(ada)}?utm_source={source}")
        assert r.status_code == 302
    rewards = await kit.get(f"/v1/rewards?promoter_id={ada['id']}")
    assert [(x["amount"], x["source"]["type"]) for x in rewards["data"]] == [
        (0.05, "click"),
        (0.05, "click"),
    ]
    clicks = (await kit.get(f"/v1/clicks?promoter_id={ada['id']}"))["data"]
    codes = [c["explanation"]["rules"][0]["code"] for c in reversed(clicks)]
    assert codes == ["fired", "fired", "promoter_limit_reached", "condition_false"]
    assert clicks[-1]["explanation"]["rules"][0]["rule_id"] == paid["id"]


def test_redirects_are_the_destination_with_its_query_re_encoded_and_the_click_added() -> None:
    """redirect_url parses each destination once; its answer is still exactly
    ``urlunsplit(destination with urlencode(kept + added) as its query)``."""
    import uuid
    from urllib.parse import urlencode, urlunsplit

    def reference(destination: str, utm: dict[str, str], click: uuid.UUID) -> str:
        parts = urlsplit(destination)
        added = {**utm, "gw_click": str(click)}
        query = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in added
        ]
        query.extend(added.items())
        return urlunsplit(parts._replace(query=urlencode(query)))

    click = uuid.UUID(int=7)
    destinations = [
        "https://shop.example/",
        "https://shop.example",
        "https://shop.example/welcome?ref=1",
        "https://shop.example/p?a=1&utm_source=old&gw_click=stale#top",
        "https://shop.example/p?a=&b&c=%20x+y&a=2#frag?x",
        "https://shop.example/p?#",
        "https://user:pw@shop.example:8443/a%2Fb;p?q=%E2%82%AC&r=€#€",
        "http://shop.example/?utm_medium=keep&utm_source=drop",
        "https://shop.example/x?k=v&&k2=v2",
    ]
    visits = [{}, {"utm_source": "new"}, {"utm_source": "a b&c=d", "utm_medium": "€/?#"}]
    for destination in destinations:
        for utm in visits:
            assert redirect_url(destination, utm, click) == reference(destination, utm, click)
