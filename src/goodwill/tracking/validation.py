"""Checking a custom event's metadata against its schema: pure, and it lists *every* violation.

Types: ``string``; ``number`` (any JSON number); ``integer`` (a JSON number with no fraction);
``boolean``; ``date`` (``2024-01-15``); ``datetime`` (ISO 8601 with a timezone,
``2024-01-15T10:30:00Z``); ``object``; ``array``. A ``null`` value counts as absent: it is
refused only where the property is required. Without ``allow_unknown``, properties the schema
does not name are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from goodwill.errors import FieldError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, Decimal) and value.is_finite()


def _is_integer(value: Any) -> bool:
    if not _is_number(value):
        return False
    return isinstance(value, int) or value == int(value)


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not _DATETIME.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "number": (_is_number, "a number"),
    "integer": (_is_integer, "an integer"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "date": (_is_date, "a date like 2024-01-15"),
    "datetime": (_is_datetime, "a date and time with a timezone, like 2024-01-15T10:30:00Z"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "array": (lambda v: isinstance(v, list), "an array"),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def violations(
    properties: Mapping[str, Mapping[str, Any]],
    allow_unknown: bool,
    metadata: Mapping[str, Any],
    param: str = "metadata",
) -> list[FieldError]:
    """Every way ``metadata`` breaks the schema, each with its path (``metadata.plan``), in
    the order of the paths (the database may not keep the schema's order)."""
    errors: list[FieldError] = []
    for name, prop in properties.items():
        path = f"{param}.{name}"
        value = metadata.get(name)
        if value is None:
            if prop.get("required"):
                errors.append(FieldError(path, "required", "is required by the event schema"))
            continue
        check, expected = CHECKS[prop["type"]]
        if not check(value):
            errors.append(
                FieldError(path, "invalid_type", f"must be {expected} (got {json_type(value)})")
            )
    if not allow_unknown:
        errors.extend(
            FieldError(
                f"{param}.{name}",
                "unknown_property",
                "is not in the event schema, which allows no other properties",
            )
            for name in metadata
            if name not in properties
        )
    return sorted(errors, key=lambda e: e.param)
