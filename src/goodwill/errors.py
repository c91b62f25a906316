"""Goodwill's errors: one small tree, each class with its HTTP status and machine code.

Services raise these; one handler (``goodwill.http.errors``) renders them in the envelope
``{"error": {"code", "message", "param", "errors", "request_id"}}``. Services never raise
framework HTTP exceptions.

    GoodwillError
    ├── BadRequest            400  bad_request
    │   └── InvalidJSON       400  invalid_json
    ├── SchemaViolation       400  event_schema_violation (every violation in ``errors``)
    ├── Unauthorized          401  unauthorized
    ├── Forbidden             403  forbidden
    ├── NotFound              404  not_found
    ├── Conflict              409  conflict
    │   └── IdempotencyConflict 409 idempotency_key_reused
    ├── PayloadTooLarge       413  payload_too_large
    ├── UnsupportedMediaType  415  unsupported_media_type
    ├── ValidationFailed      422  validation_error  (every offending field in ``errors``)
    ├── RateLimited           429  rate_limited      (``retry_after`` seconds)
    └── Unavailable           503  unavailable
"""

from __future__ import annotations

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One offending field: a dotted path (``items[0].amount``), a code and a message."""

    param: str
    code: str
    message: str


class GoodwillError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class BadRequest(GoodwillError):
    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    code = "invalid_json"


class Unauthorized(GoodwillError):
    status = 401
    code = "unauthorized"


class Forbidden(GoodwillError):
    status = 403
    code = "forbidden"


class NotFound(GoodwillError):
    status = 404
    code = "not_found"


class Conflict(GoodwillError):
    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


class PayloadTooLarge(GoodwillError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(GoodwillError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(GoodwillError):
    status = 422
    code = "validation_error"

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        first = errors[0] if errors else None
        summary = message or "; ".join(f"{e.param}: {e.message}" for e in errors)
        super().__init__(summary or "Invalid request", param=first.param if first else None)
        self.errors = errors

    @classmethod
    def single(cls, param: str, message: str, code: str = "invalid") -> ValidationFailed:
        return cls([FieldError(param=param, code=code, message=message)])


class SchemaViolation(ValidationFailed):
    """A custom event's metadata breaks its event schema: every violation, by path."""

    status = 400
    code = "event_schema_violation"


class RateLimited(GoodwillError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(GoodwillError):
    status = 503
    code = "unavailable"
