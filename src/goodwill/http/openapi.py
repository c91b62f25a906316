"""The OpenAPI document as served at ``/openapi.json`` and on the ``/docs`` page.

Litestar describes the errors of every route with its own ``{"status_code", "detail", "extra"}``
shape, as a ``400``. Goodwill answers errors in its envelope (``goodwill.http.errors``), with a
validation error as a ``422``; seed 002's action endpoint keeps ``{"error": "<message>"}``. So
each operation's Litestar ``400`` is replaced by one ``4XX`` response in the shape it really has.
"""

from __future__ import annotations

import copy
from typing import Any

from litestar import Litestar, Request
from litestar.openapi.plugins import SwaggerRenderPlugin

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "Every error of the native API (docs/api.md, Errors).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string"},
                "param": {"type": "string", "description": "The offending field, if one"},
                "errors": {
                    "type": "array",
                    "description": "Validation errors: every offending field",
                    "items": {
                        "type": "object",
                        "required": ["param", "code", "message"],
                        "properties": {
                            "param": {"type": "string", "examples": ["items[0].amount"]},
                            "code": {"type": "string", "examples": ["unknown_field"]},
                            "message": {"type": "string"},
                        },
                    },
                },
                "request_id": {"type": "string", "description": "Also the X-Request-Id header"},
            },
        }
    },
}
SIMPLE_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "SimpleError",
    "description": "The errors of seed 002's action endpoint.",
    "required": ["error"],
    "properties": {"error": {"type": "string", "examples": ["lead_id required"]}},
}


def _error_response(name: str) -> dict[str, Any]:
    return {
        "description": "An error: 400, 401, 403, 404, 409, 413, 415, 422 or 429 (docs/api.md)",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def _is_litestar_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return {"status_code", "detail"} <= set(schema.get("properties", {}))


def build_document(app: Litestar) -> dict[str, Any]:
    """Litestar's document with the errors described as Goodwill answers them."""
    document = copy.deepcopy(app.openapi_schema.to_schema())
    simple_paths = {
        route.path_format
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.opt.get("error_shape") == "simple"
    }
    for path, item in document.get("paths", {}).items():
        name = "SimpleError" if path in simple_paths else "Error"
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in [s for s, r in responses.items() if _is_litestar_error(r)]:
                del responses[status]
            if path.startswith(("/v1/", "/client/v1/", "/functions/v1/")):
                responses["4XX"] = _error_response(name)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["SimpleError"] = SIMPLE_ERROR_SCHEMA
    return document


def document_of(app: Litestar) -> dict[str, Any]:
    """The document, built once per app."""
    document: dict[str, Any] | None = app.state.get("openapi_document")
    if document is None:
        document = build_document(app)
        app.state.openapi_document = document
    return document


class SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI on the same document as ``/openapi.json``."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document_of(request.app))
