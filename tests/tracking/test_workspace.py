"""GET/PATCH /v1/workspace: the calling key's workspace and its settings."""

from __future__ import annotations

from httpx import AsyncClient

from goodwill.db import Database
from tests.conftest import Tenant, error_of


async def test_read_and_update_the_workspace(
    client: AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    r = await client.get("/v1/workspace", headers=tenant.headers)
    assert r.json() == {
        "id": str(tenant.workspace_id),
        "name": "Shop",
        "event_type_prefix": "goodwill",
        "settings": {"events_require_schema": False},
        "created_at": "2026-04-06T06:23:54.793Z",
        "object": "workspace",
    }
    r = await client.patch(
        "/v1/workspace",
        json={"name": "Coffee & Co", "event_type_prefix": "com.coffee-co"},
        headers=tenant.headers,
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["event_type_prefix"]) == ("Coffee & Co", "com.coffee-co")
    r = await client.patch(
        "/v1/workspace", json={"settings": {"events_require_schema": True}}, headers=tenant.headers
    )
    assert r.json()["settings"] == {"events_require_schema": True}
    assert r.json()["name"] == "Coffee & Co"
    other = (await client.get("/v1/workspace", headers=other_tenant.headers)).json()
    assert other["id"] == str(other_tenant.workspace_id)
    assert other["settings"] == {"events_require_schema": False}


async def test_bad_updates_are_named_and_change_nothing(
    client: AsyncClient, tenant: Tenant
) -> None:
    before = (await client.get("/v1/workspace", headers=tenant.headers)).json()
    for body, param in [
        ({"event_type_prefix": "has space"}, "event_type_prefix"),
        ({"event_type_prefix": ".dot"}, "event_type_prefix"),
        ({"event_type_prefix": ""}, "event_type_prefix"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"settings": {"events_require_schema": "yes"}}, "settings.events_require_schema"),
        ({"settings": {"colour": "red"}}, "settings.colour"),
        ({"id": "x"}, "id"),
    ]:
        r = await client.patch("/v1/workspace", json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)
        assert error_of(r)["param"] == param, (body, r.text)
    assert (await client.get("/v1/workspace", headers=tenant.headers)).json() == before
