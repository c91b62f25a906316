"""The ASGI entry point uvicorn loads: settings from the environment."""

from __future__ import annotations

from litestar import Litestar

from goodwill.aio import calm_the_garbage_collector
from goodwill.http.app import create_app
from goodwill.settings import Settings


def create() -> Litestar:
    app = create_app(Settings.from_env())
    calm_the_garbage_collector()
    return app
