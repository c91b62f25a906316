"""The app factory: everything is built from explicit :class:`Settings`; nothing connects at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from goodwill import __version__
from goodwill.clock import Clock, utcnow
from goodwill.customers.routes import routes as customer_routes
from goodwill.db import Database
from goodwill.events.routes import routes as event_routes
from goodwill.http.echo import echo_purchase
from goodwill.http.encoding import encode
from goodwill.http.errors import EXCEPTION_HANDLERS
from goodwill.http.health import healthz, readyz
from goodwill.http.middleware import AccessLog, AuthMiddleware, add_request_id_header
from goodwill.http.openapi import SwaggerPage, document_of
from goodwill.http.request import ExactRequest
from goodwill.links.public import Shortcut, follow_link
from goodwill.links.routes import routes as link_routes
from goodwill.logs import configure_logging
from goodwill.loyalty.routes import routes as loyalty_routes
from goodwill.maintenance import maintenance_loop
from goodwill.operations.routes import functions_router
from goodwill.operations.routes import routes as operation_routes
from goodwill.payouts.routes import routes as payout_routes
from goodwill.products.routes import routes as product_routes
from goodwill.programs.routes import routes as program_routes
from goodwill.promoters.routes import routes as promoter_routes
from goodwill.purchases.routes import routes as purchase_routes
from goodwill.referrals.routes import routes as referral_routes
from goodwill.rewards.routes import routes as reward_routes
from goodwill.rules.routes import routes as rule_routes
from goodwill.settings import Settings
from goodwill.tracking.client import client_router
from goodwill.tracking.ratelimit import RateLimiter
from goodwill.tracking.routes import routes as tracking_routes
from goodwill.webhooks.routes import routes as webhook_routes
from goodwill.webhooks.worker import Worker
from goodwill.workspaces.routes import routes as workspace_routes

DOCS_ASSETS = "/docs/assets"


def api_routes() -> list[Any]:
    """The secret-key API under ``/v1``; each domain contributes its handlers."""
    return [
        *workspace_routes,
        *customer_routes,
        *product_routes,
        *program_routes,
        *promoter_routes,
        *link_routes,
        *referral_routes,
        *purchase_routes,
        *rule_routes,
        *reward_routes,
        *payout_routes,
        *operation_routes,
        *loyalty_routes,
        *tracking_routes,
        *event_routes,
        *webhook_routes,
    ]


@get("/openapi.json", opt={"auth": "public"}, include_in_schema=False)
async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(encode(document_of(request.app)), media_type="application/json")


def create_app(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    database: Database | None = None,
    background: bool = True,
    extra_routes: Sequence[Any] = (),
    click_shortcut: bool = True,
) -> Litestar:
    configure_logging(settings.log_level, settings.log_format)
    db = database or Database(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        tasks = []
        worker: Worker | None = None
        if background:
            tasks.append(asyncio.create_task(maintenance_loop(db, settings, clock)))
            if settings.run_worker:
                worker = Worker(db, settings, clock=clock)
                worker_task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker is not None:
                # Finish the batch in flight (bounded by the request timeout), then stop.
                worker.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.shield(worker_task), settings.webhook_timeout_seconds + 5
                    )
                tasks.append(worker_task)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if worker is not None:
                await worker.aclose()
            if database is None:
                await db.dispose()

    v1 = Router(
        "/v1",
        route_handlers=api_routes(),
        opt={"auth": "secret"},
        security=[{"apiKey": []}, {"bearer": []}],
    )
    openapi = OpenAPIConfig(
        title="Goodwill",
        version=__version__,
        description="Self-hosted referral and loyalty rewards engine.",
        path="/docs",
        render_plugins=[
            SwaggerPage(
                path="/",
                js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f'<link rel="icon" type="image/png" href="{DOCS_ASSETS}/favicon-32x32.png">',
            )
        ],
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="apiKey", name="X-Api-Key", security_scheme_in="header"
                ),
                "bearer": SecurityScheme(type="http", scheme="bearer"),
                "clientApplicationId": SecurityScheme(
                    type="apiKey", name="X-Client-Application-Id", security_scheme_in="header"
                ),
                "clientToken": SecurityScheme(
                    type="apiKey", name="X-Client-Token", security_scheme_in="header"
                ),
            }
        ),
    )
    assets = create_static_files_router(
        path=DOCS_ASSETS,
        directories=[swagger_ui_path],
        opt={"auth": "public"},
        include_in_schema=False,
    )
    app = Litestar(
        route_handlers=[
            v1,
            functions_router,
            client_router(),
            follow_link,
            healthz,
            readyz,
            openapi_json,
            assets,
            *([echo_purchase] if settings.bench_echo else []),
            *extra_routes,
        ],
        openapi_config=openapi,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[AuthMiddleware()],
        before_send=[add_request_id_header],
        request_max_body_size=settings.max_body_bytes,
        request_class=ExactRequest,
        lifespan=[lifespan],
        state=_state(
            db=db,
            settings=settings,
            clock=clock,
            client_limiter=RateLimiter(settings.client_rate_limit),
        ),
        opt={"auth": "public"},
        debug=False,
        logging_config=None,
    )
    # Outside the router (as Litestar wraps its own CORS and tracing middleware), so that
    # requests no route matches are logged too.
    app.asgi_handler = AccessLog(
        Shortcut.of(app.asgi_handler, app) if click_shortcut else app.asgi_handler
    )
    return app


def _state(**values: Any) -> Any:
    from litestar.datastructures import State

    return State(values)
