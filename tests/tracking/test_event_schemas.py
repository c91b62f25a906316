"""Event schemas: every type, every kind of violation listed at once, and the workspace
setting that refuses events without a schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from httpx import AsyncClient

from goodwill.db import Database
from goodwill.tracking.validation import violations
from tests.conftest import Tenant, count_rows, error_of

ALL_TYPES = {
    "s": {"type": "string"},
    "n": {"type": "number"},
    "i": {"type": "integer"},
    "b": {"type": "boolean"},
    "d": {"type": "date"},
    "dt": {"type": "datetime"},
    "o": {"type": "object"},
    "a": {"type": "array"},
}
GOOD = {
    "s": "x",
    "n": 1.5,
    "i": 4,
    "b": False,
    "d": "2024-01-15",
    "dt": "2024-01-15T10:30:00Z",
    "o": {"k": 1},
    "a": [1, "two"],
}


@pytest.mark.parametrize(
    ("kind", "good", "bad", "message"),
    [
        ("string", ["", "PP1"], [1, True, None, [], {}], "must be a string"),
        ("number", [0, -1.5, 10**20, 4.0], ["1", True, [], {}], "must be a number"),
        ("integer", [0, -3, 4.0, 10**20], [1.5, "4", False], "must be an integer"),
        ("boolean", [True, False], [0, 1, "true"], "must be true or false"),
        (
            "date",
            ["2024-01-15", "2024-02-29"],
            ["2023-02-29", "2024-1-5", "2024-01-15T00:00:00Z", 20240115],
            "must be a date like 2024-01-15",
        ),
        (
            "datetime",
            ["2024-01-15T10:30:00Z", "2024-01-15T10:30:00.123+02:00", "2024-01-15T10:30Z"],
            ["2024-01-15T10:30:00", "2024-01-15", "2024-13-15T10:30:00Z", "yesterday", 1],
            "must be a date and time with a timezone",
        ),
        ("object", [{}, {"a": {"b": 1}}], [[], "x", 1], "must be an object"),
        ("array", [[], [1, {"a": 1}]], [{}, "x", 1], "must be an array"),
    ],
)
def test_every_type(kind: str, good: list[Any], bad: list[Any], message: str) -> None:
    props = {"p": {"type": kind, "required": True}}
    for value in good:
        assert violations(props, True, {"p": value}) == [], value
    for value in bad:
        found = violations(props, True, {"p": value})
        assert len(found) == 1, value
        assert found[0].param == "metadata.p"
        if value is None:
            assert found[0].code == "required"
        else:
            assert found[0].code == "invalid_type"
            assert found[0].message.startswith(message), found[0].message


async def _put(client: AsyncClient, tenant: Tenant, name: str, body: dict[str, Any]) -> Any:
    return await client.put(f"/v1/event-schemas/{name}", json=body, headers=tenant.headers)


async def test_schema_crud(client: AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    r = await _put(client, tenant, "user_subscribed", {"properties": ALL_TYPES})
    assert r.status_code == 201, r.text
    schema = r.json()
    assert schema["event_name"] == "user_subscribed"
    assert schema["allow_unknown"] is True
    assert schema["properties"]["dt"] == {
        "type": "datetime",
        "required": False,
        "description": None,
    }
    r = await _put(
        client,
        tenant,
        "user_subscribed",
        {"properties": {"s": {"type": "string"}}, "allow_unknown": False},
    )
    assert r.status_code == 200
    assert r.json()["id"] == schema["id"]
    assert list(r.json()["properties"]) == ["s"]
    got = await client.get("/v1/event-schemas/user_subscribed", headers=tenant.headers)
    assert got.json() == r.json()
    await _put(client, tenant, "cart abandoned", {})
    listed = await client.get("/v1/event-schemas", headers=tenant.headers)
    assert [s["event_name"] for s in listed.json()["data"]] == ["cart abandoned", "user_subscribed"]
    # another workspace sees none of it, and has its own names
    for method in ("get", "delete"):
        r = await client.request(
            method, "/v1/event-schemas/user_subscribed", headers=other_tenant.headers
        )
        assert r.status_code == 404
    assert (await client.get("/v1/event-schemas", headers=other_tenant.headers)).json()[
        "data"
    ] == []
    r = await client.put("/v1/event-schemas/user_subscribed", json={}, headers=other_tenant.headers)
    assert r.status_code == 201
    assert r.json()["id"] != schema["id"]
    # delete
    r = await client.delete("/v1/event-schemas/user_subscribed", headers=tenant.headers)
    assert r.status_code == 204
    r = await client.delete("/v1/event-schemas/user_subscribed", headers=tenant.headers)
    assert r.status_code == 404
    assert (
        await client.get("/v1/event-schemas/user_subscribed", headers=tenant.headers)
    ).status_code == 404


async def test_bad_schemas_are_named_and_write_nothing(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    cases = [
        ({"properties": {"p": {"type": "float"}}}, "properties.p.type"),
        ({"properties": {"p": {}}}, "properties.p.type"),
        ({"properties": {"p": {"type": "string", "min": 1}}}, "properties.p.min"),
        ({"properties": {"p": "string"}}, "properties.p"),
        ({"properties": []}, "properties"),
        ({"allow_unknown": "yes"}, "allow_unknown"),
        ({"strict": True}, "strict"),
    ]
    for body, param in cases:
        r = await _put(client, tenant, "e", body)
        assert r.status_code == 422, (body, r.text)
        assert error_of(r)["param"] == param, (body, r.text)
    r = await _put(client, tenant, "e" * 301, {})
    assert r.status_code == 422
    assert error_of(r)["param"] == "event_name"
    too_many = {"properties": {f"p{i}": {"type": "string"} for i in range(201)}}
    r = await _put(client, tenant, "e", too_many)
    assert r.status_code == 422
    assert error_of(r)["param"] == "properties"
    assert await count_rows(db, "event_schemas", tenant.workspace_id) == 0


async def test_events_breaking_their_schema_list_every_violation(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    props = {name: {**p, "required": True} for name, p in ALL_TYPES.items()}
    await _put(client, tenant, "signup", {"properties": props, "allow_unknown": False})
    event = {"event": "signup", "customer": {"source_id": "c1"}}
    r = await client.post("/v1/events", json={**event, "metadata": GOOD}, headers=tenant.headers)
    assert r.status_code == 200, r.text

    broken = {
        "s": 1,
        "n": "1",
        "i": 1.5,
        "b": "no",
        "d": "15/01/2024",
        "o": [],
        "a": None,
        "extra": True,
        "more": 1,
    }
    r = await client.post("/v1/events", json={**event, "metadata": broken}, headers=tenant.headers)
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "event_schema_violation"
    assert [(e["param"], e["code"]) for e in error["errors"]] == [
        ("metadata.a", "required"),
        ("metadata.b", "invalid_type"),
        ("metadata.d", "invalid_type"),
        ("metadata.dt", "required"),
        ("metadata.extra", "unknown_property"),
        ("metadata.i", "invalid_type"),
        ("metadata.more", "unknown_property"),
        ("metadata.n", "invalid_type"),
        ("metadata.o", "invalid_type"),
        ("metadata.s", "invalid_type"),
    ]
    assert error["param"] == "metadata.a"
    assert error["message"].startswith("The metadata breaks the event schema of 'signup': ")
    assert error["errors"][-1]["message"] == "must be a string (got number)"
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1
    assert await count_rows(db, "customers", tenant.workspace_id) == 1

    # optional properties may be absent or null; unknown ones pass when allowed
    await _put(client, tenant, "signup", {"properties": ALL_TYPES})
    r = await client.post(
        "/v1/events",
        json={**event, "metadata": {"s": None, "extra": {"x": 1}}},
        headers=tenant.headers,
    )
    assert r.status_code == 200


async def test_workspace_setting_refuses_events_without_a_schema(
    client: AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    event = {"event": "unknown_thing", "customer": {"source_id": "c1"}}
    assert (await client.post("/v1/events", json=event, headers=tenant.headers)).status_code == 200
    r = await client.patch(
        "/v1/workspace", json={"settings": {"events_require_schema": True}}, headers=tenant.headers
    )
    assert r.json()["settings"]["events_require_schema"] is True
    r = await client.post("/v1/events", json=event, headers=tenant.headers)
    assert r.status_code == 400
    assert error_of(r)["code"] == "event_schema_missing"
    assert error_of(r)["param"] == "event"
    assert await count_rows(db, "custom_events", tenant.workspace_id) == 1
    await _put(client, tenant, "unknown_thing", {})
    assert (await client.post("/v1/events", json=event, headers=tenant.headers)).status_code == 200
    # the other workspace keeps its own setting
    r = await client.post("/v1/events", json={**event, "event": "x"}, headers=other_tenant.headers)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "name",
    ["checkout/completed", "/checkout", "checkout/", "a//b", "50% off?", "#1 fan", "café ☕"],
)
async def test_any_event_name_has_a_schema_url(
    client: AsyncClient, db: Database, tenant: Tenant, name: str
) -> None:
    url = f"/v1/event-schemas/{quote(name, safe='')}"
    schema = {"properties": {"total": {"type": "number", "required": True}}}
    r = await client.put(url, json=schema, headers=tenant.headers)
    assert r.status_code == 201, r.text
    assert r.json()["event_name"] == name
    got = await client.get(url, headers=tenant.headers)
    assert got.status_code == 200, got.text
    assert got.json()["event_name"] == name
    r = await client.post(
        "/v1/events",
        json={"event": name, "customer": {"source_id": "c1"}, "metadata": {}},
        headers=tenant.headers,
    )
    assert r.status_code == 400
    assert error_of(r)["errors"][0]["param"] == "metadata.total"
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert (await client.get(url, headers=tenant.headers)).status_code == 404
    assert await count_rows(db, "event_schemas", tenant.workspace_id) == 0


async def test_a_name_that_is_not_utf8_is_refused(
    client: AsyncClient, db: Database, tenant: Tenant
) -> None:
    r = await client.put("/v1/event-schemas/caf%E9", json={}, headers=tenant.headers)
    assert r.status_code == 422
    assert error_of(r)["param"] == "event_name"
    assert await count_rows(db, "event_schemas", tenant.workspace_id) == 0


async def test_names_no_event_can_have_are_refused_on_every_route(
    client: AsyncClient, tenant: Tenant
) -> None:
    for method in ("PUT", "GET", "DELETE"):
        for name, message in (
            ("a%00b", "must not contain NUL characters"),
            ("e" * 301, "must be 1-300 characters"),
        ):
            r = await client.request(
                method, f"/v1/event-schemas/{name}", json={}, headers=tenant.headers
            )
            assert r.status_code == 422, (method, name, r.text)
            assert error_of(r)["param"] == "event_name"
            assert error_of(r)["message"] == f"event_name: {message}"
