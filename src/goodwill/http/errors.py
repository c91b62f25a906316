"""Rendering every failure in one envelope.

    {"error": {"code": "validation_error", "message": "...", "param": "email",
               "errors": [{"param": "email", "code": "invalid", "message": "..."}],
               "request_id": "req_..."}}

A route can keep a compatible surface's own shape with ``opt={"error_shape": "simple"}``:
``{"error": "<message>"}`` (seed 002).
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from goodwill.errors import (
    FieldError,
    GoodwillError,
    InvalidJSON,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
)
from goodwill.http.encoding import encode
from goodwill.http.middleware import ensure_request_id
from goodwill.http.schema import split_msgspec_error
from goodwill.http.validation import decode_body
from goodwill.idempotency.service import Replay

log = structlog.get_logger("goodwill.http")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def request_id(request: Request[Any, Any, Any]) -> str:
    return ensure_request_id(request.scope)


def render(request: Request[Any, Any, Any], exc: GoodwillError) -> Response[bytes]:
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    handler = request.scope.get("route_handler")
    if handler is not None and handler.opt.get("error_shape") == "simple":
        body: dict[str, Any] = {"error": exc.message}
    else:
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.param is not None:
            error["param"] = exc.param
        if isinstance(exc, ValidationFailed):
            error["errors"] = exc.errors
        error["request_id"] = request_id(request)
        body = {"error": error}
    return Response(
        encode(body), status_code=exc.status, media_type="application/json", headers=headers
    )


def handle_goodwill_error(request: Request[Any, Any, Any], exc: GoodwillError) -> Response[bytes]:
    return render(request, exc)


def handle_replay(request: Request[Any, Any, Any], exc: Replay) -> Response[bytes]:
    return Response(
        exc.response.body,
        status_code=exc.response.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def _body_error(request: Request[Any, Any, Any]) -> GoodwillError | None:
    """Decode the body again with every field checked; the error it gives, if any."""
    handler = request.scope.get("route_handler")
    data_field = getattr(handler, "parsed_data_field", None) if handler else None
    body = ScopeState.from_scope(request.scope).body
    if data_field is None or body is Empty:
        return None
    try:
        decode_body(body, data_field.annotation)
    except (InvalidJSON, ValidationFailed) as found:
        return found
    return None


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Litestar found a parameter or body invalid: name every offending field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    if not extra or any(isinstance(e, dict) and e.get("source") == "body" for e in extra):
        found = _body_error(request)
        if found is not None:
            return render(request, found)
    errors = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "body")
        _, message = split_msgspec_error(str(item.get("message", "is invalid")))
        errors.append(FieldError(param=key, code="invalid", message=message))
    if not errors:
        return render(request, InvalidJSON(exc.detail or "The request body is not valid JSON"))
    return render(request, ValidationFailed(errors))


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 413:
        return render(request, PayloadTooLarge(f"The body is larger than the limit: {exc.detail}"))
    if exc.status_code == 400 and (found := _body_error(request)) is not None:
        return render(request, found)
    error = GoodwillError(str(exc.detail))
    error.status = exc.status_code
    error.code = _HTTP_CODES.get(exc.status_code, "error")
    if exc.status_code == 404 and exc.detail == "Not Found":
        error.message = f"No route {request.method} {request.url.path}"
    response = render(request, error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def handle_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[bytes]:
    """msgspec gives up on a body nested deeper than the interpreter's recursion limit: that is
    the client's malformed input (no body Goodwill accepts nests past a few levels)."""
    if "deserializing" in str(exc):
        return render(request, InvalidJSON("The request body nests too deeply to be read"))
    return handle_unexpected(request, exc)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled_error", path=request.url.path)
    error = GoodwillError("Internal error; the request id identifies it in the logs")
    return render(request, error)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    GoodwillError: handle_goodwill_error,
    Replay: handle_replay,
    ValidationException: handle_validation,
    HTTPException: handle_http_exception,
    RecursionError: handle_recursion,
    Exception: handle_unexpected,
}
