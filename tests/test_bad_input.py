"""Every kind of bad input gets a clean 4xx naming the problem, and writes nothing."""

from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import Tenant, count_rows, error_of


async def _nothing_written(db, tenant: Tenant) -> None:
    for table in ("customers", "products", "events", "idempotency_keys"):
        assert await count_rows(db, table, tenant.workspace_id) == 0, table


async def test_every_offending_field_is_named(client: AsyncClient, tenant: Tenant, db) -> None:
    r = await client.post(
        "/v1/customers",
        json={"email": "not-an-email", "name": "", "metadata": [], "color": "red"},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    error = error_of(r)
    assert error["code"] == "validation_error"
    params = {e["param"]: e["code"] for e in error["errors"]}
    assert params == {
        "color": "unknown_field",
        "source_id": "required",
        "email": "invalid",
        "name": "invalid",
        "metadata": "invalid_type",
    }
    assert error["request_id"] == r.headers["x-request-id"]
    await _nothing_written(db, tenant)


async def test_malformed_json_wrong_type_and_size(
    client: AsyncClient, tenant: Tenant, db, settings
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    r = await client.post("/v1/customers", content=b'{"source_id": "a"', headers=headers)
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_json"

    r = await client.post("/v1/customers", content=b"[1, 2]", headers=headers)
    assert r.status_code == 422

    r = await client.post(
        "/v1/customers",
        content=b"source_id=a",
        headers={**tenant.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert error_of(r)["code"] == "unsupported_media_type"

    big = b'{"source_id": "a", "metadata": {"x": "' + b"y" * settings.max_body_bytes + b'"}}'
    r = await client.post("/v1/customers", content=big, headers=headers)
    assert r.status_code == 413
    assert error_of(r)["code"] == "payload_too_large"
    await _nothing_written(db, tenant)


async def test_nul_bytes_are_refused(client: AsyncClient, tenant: Tenant, db) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    r = await client.post("/v1/customers", content=b'{"source_id": "a\x00b"}', headers=headers)
    assert r.status_code == 400  # a raw NUL is not JSON
    r = await client.post("/v1/customers", content=b'{"source_id": "a\\u0000b"}', headers=headers)
    assert r.status_code == 422
    assert error_of(r)["param"] == "source_id"
    r = await client.post(
        "/v1/customers",
        content=b'{"source_id": "a", "metadata": {"k": ["\\u0000"]}}',
        headers=headers,
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "metadata.k[0]"
    r = await client.post(
        "/v1/customers", content=b'{"source_id": "a", "metadata": {"k\\u0000": 1}}', headers=headers
    )
    assert r.status_code == 422
    await _nothing_written(db, tenant)


async def test_bad_query_and_path_parameters(client: AsyncClient, tenant: Tenant) -> None:
    r = await client.get("/v1/customers?limit=0", headers=tenant.headers)
    assert r.status_code == 422
    assert error_of(r)["param"] == "limit"
    r = await client.get("/v1/customers?limit=abc", headers=tenant.headers)
    assert r.status_code == 422
    r = await client.get("/v1/customers?cursor=%%%", headers=tenant.headers)
    assert r.status_code == 422
    assert error_of(r)["param"] == "cursor"
    r = await client.get("/v1/customers/not-a-uuid", headers=tenant.headers)
    assert r.status_code == 404
    r = await client.delete("/v1/customers", headers=tenant.headers)
    assert r.status_code == 405
    assert error_of(r)["code"] == "method_not_allowed"


async def test_nul_in_query_and_path_parameters_is_a_422(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    """PostgreSQL refuses NUL in text: a filter or a path part with one must not reach it."""
    for url, param in (
        ("/v1/customers?source_id=a%00b", "source_id"),
        ("/v1/customers?email=a%00@x.io&limit=5", "email"),
        ("/v1/products?sku=%00", "sku"),
        ("/v1/loyalty-cards/ab%00c", "code"),
        ("/v1/event-schemas/signed%00up", "event_name"),
    ):
        r = await client.get(url, headers=tenant.headers)
        assert r.status_code == 422, (url, r.text)
        error = error_of(r)
        assert error["code"] == "validation_error"
        assert [(e["param"], e["code"]) for e in error["errors"]] == [(param, "invalid")], url
        assert "NUL" in error["message"]
    r = await client.put(
        "/v1/event-schemas/signed%00up", json={"properties": {}}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert error_of(r)["param"] == "event_name"
    r = await client.get("/r/gr%00ace")  # the public redirect, no key
    assert r.status_code == 422
    assert error_of(r)["param"] == "code"
    r = await client.get("/v1/customers?source_id=a%00b")  # no key: still a 401 first
    assert r.status_code == 401
    await _nothing_written(db, tenant)


async def test_a_body_nested_too_deeply_to_decode_is_a_400(
    client: AsyncClient, tenant: Tenant, db
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    deep = b"[" * 50_000 + b"]" * 50_000  # 100 KB, under the size limit
    for body in (deep, b'{"source_id": "a", "metadata": {"k": ' + deep + b"}}"):
        r = await client.post("/v1/customers", content=body, headers=headers)
        assert r.status_code == 400, r.text
        assert error_of(r)["code"] == "invalid_json"
        assert "deep" in error_of(r)["message"]
    r = await client.post("/v1/operations", content=deep, headers=headers)  # seed 002's shape
    assert r.status_code == 400
    assert r.json() == {"error": "The request body nests too deeply to be read"}
    await _nothing_written(db, tenant)
