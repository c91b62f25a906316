"""The ASGI entry point uvicorn loads: settings from the environment."""

from __future__ import annotations

from litestar import Litestar

from goodwill.http.app import create_app
from goodwill.settings import Settings


def create() -> Litestar:
    return create_app(Settings.from_env())
