from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from goodwill.clock import format_time, to_utc
from goodwill.http.context import read_only, unit_of_work
from goodwill.http.pagination import DEFAULT_LIMIT, Limit, Page, page
from goodwill.settings import Settings
from goodwill.webhooks import service
from goodwill.webhooks.schemas import (
    Deleted,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPatch,
    RecoverRequest,
    ResendRequest,
    Scheduled,
    SecretRotated,
)

TAGS = ["webhooks"]
ENDPOINT = "/webhook-endpoints/{endpoint_id:uuid}"


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@post(
    "/webhook-endpoints",
    tags=TAGS,
    status_code=201,
    summary="Register a webhook endpoint (the signing secret is shown only here)",
)
async def create_endpoint(
    request: Request[Any, Any, Any], data: JSONBody[EndpointCreate]
) -> Response[EndpointCreated]:
    await service.check_destination(data.url, data.type, _settings(request))
    async with unit_of_work(request) as ctx:
        endpoint = await service.create(ctx.session, ctx.workspace_id, data, ctx.now)
        return ctx.respond(EndpointCreated.with_secret(endpoint), 201)


@get("/webhook-endpoints", tags=TAGS, summary="List webhook endpoints, newest first")
async def list_endpoints(
    request: Request[Any, Any, Any],
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[EndpointOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.list_(
            ctx.session, ctx.workspace_id, limit=limit, cursor=cursor
        )
        return ctx.respond(page([EndpointOut.of(e) for e in rows], next_cursor))


@get(ENDPOINT, tags=TAGS, summary="Retrieve a webhook endpoint")
async def get_endpoint(
    request: Request[Any, Any, Any], endpoint_id: FromPath[uuid.UUID]
) -> Response[EndpointOut]:
    async with read_only(request) as ctx:
        endpoint = await service.get(ctx.session, ctx.workspace_id, endpoint_id)
        return ctx.respond(EndpointOut.of(endpoint))


@patch(ENDPOINT, tags=TAGS, summary="Change a webhook endpoint (enable, disable, filter, ...)")
async def patch_endpoint(
    request: Request[Any, Any, Any], endpoint_id: FromPath[uuid.UUID], data: JSONBody[EndpointPatch]
) -> Response[EndpointOut]:
    if isinstance(data.url, str):
        await service.check_destination(data.url, service.kind_of(data.url), _settings(request))
    async with unit_of_work(request) as ctx:
        endpoint = await service.patch(ctx.session, ctx.workspace_id, endpoint_id, data, ctx.now)
        return ctx.respond(EndpointOut.of(endpoint))


@delete(ENDPOINT, tags=TAGS, status_code=200, summary="Delete a webhook endpoint")
async def delete_endpoint(
    request: Request[Any, Any, Any], endpoint_id: FromPath[uuid.UUID]
) -> Response[Deleted]:
    async with unit_of_work(request) as ctx:
        await service.delete(ctx.session, ctx.workspace_id, endpoint_id, ctx.now)
        return ctx.respond(Deleted(id=endpoint_id))


@post(
    ENDPOINT + "/rotate-secret",
    tags=TAGS,
    status_code=200,
    summary="Rotate the signing secret; the old one keeps signing for 24 hours",
)
async def rotate_secret(
    request: Request[Any, Any, Any], endpoint_id: FromPath[uuid.UUID]
) -> Response[SecretRotated]:
    async with unit_of_work(request) as ctx:
        endpoint = await service.rotate_secret(ctx.session, ctx.workspace_id, endpoint_id, ctx.now)
        assert endpoint.previous_secret_expires_at is not None
        return ctx.respond(
            SecretRotated(
                id=endpoint.id,
                secret=endpoint.secret,
                previous_secret_expires_at=format_time(endpoint.previous_secret_expires_at),
            )
        )


@get(ENDPOINT + "/deliveries", tags=TAGS, summary="Deliveries to an endpoint, with attempts")
async def list_deliveries(
    request: Request[Any, Any, Any],
    endpoint_id: FromPath[uuid.UUID],
    status: FromQuery[Literal["pending", "succeeded", "failed", "cancelled"] | None] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Response[Page[DeliveryOut]]:
    async with read_only(request) as ctx:
        rows, next_cursor = await service.deliveries(
            ctx.session, ctx.workspace_id, endpoint_id, status=status, limit=limit, cursor=cursor
        )
        return ctx.respond(page([DeliveryOut.of(*row) for row in rows], next_cursor))


@post(
    ENDPOINT + "/recover",
    tags=TAGS,
    status_code=202,
    summary="Send again every event since a time that the endpoint has not received",
)
async def recover(
    request: Request[Any, Any, Any],
    endpoint_id: FromPath[uuid.UUID],
    data: JSONBody[RecoverRequest],
) -> Response[Scheduled]:
    async with unit_of_work(request) as ctx:
        ids = await service.recover(
            ctx.session, ctx.workspace_id, endpoint_id, to_utc(data.since, "since"), ctx.now
        )
        return ctx.respond(Scheduled(deliveries=ids), 202)


@post(ENDPOINT + "/test", tags=TAGS, status_code=202, summary="Send a test event")
async def send_test(
    request: Request[Any, Any, Any], endpoint_id: FromPath[uuid.UUID]
) -> Response[Scheduled]:
    async with unit_of_work(request) as ctx:
        event_id, ids = await service.send_test(
            ctx.session, ctx.workspace_id, endpoint_id, ctx.now, ctx.source
        )
        return ctx.respond(Scheduled(deliveries=ids, event_id=event_id), 202)


@post(
    "/events/{event_id:uuid}/resend",
    tags=["events"],
    status_code=202,
    summary="Deliver an event again, to one endpoint or to all its subscribers",
)
async def resend_event(
    request: Request[Any, Any, Any],
    event_id: FromPath[uuid.UUID],
    data: JSONBody[ResendRequest | None] = None,
) -> Response[Scheduled]:
    async with unit_of_work(request) as ctx:
        endpoint_id = data.endpoint_id if data is not None else None
        ids = await service.resend(ctx.session, ctx.workspace_id, event_id, endpoint_id, ctx.now)
        return ctx.respond(Scheduled(deliveries=ids, event_id=event_id), 202)


routes = [
    create_endpoint,
    list_endpoints,
    get_endpoint,
    patch_endpoint,
    delete_endpoint,
    rotate_secret,
    list_deliveries,
    recover,
    send_test,
    resend_event,
]
