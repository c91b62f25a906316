"""Base classes and field types for request and response bodies."""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any

import msgspec

NO_NUL = r"^[^\x00]*$"

Text = Annotated[str, msgspec.Meta(pattern=NO_NUL, max_length=1000)]
ShortText = Annotated[str, msgspec.Meta(pattern=NO_NUL, min_length=1, max_length=200)]
EMAIL_PATTERN = r"^[^\s@\x00]+@[^\s@\x00]+\.[^\s@\x00]+$"
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=EMAIL_PATTERN,
        max_length=320,
        description="An email address",
    ),
]
URL_PATTERN = r"^https?://[^\s/?#\x00]+[^\s\x00]*$"
Url = Annotated[
    str,
    msgspec.Meta(
        pattern=URL_PATTERN,
        max_length=2000,
        description="An absolute http(s) URL",
        examples=["https://shop.example/pricing"],
    ),
]
CURRENCY_PATTERN = r"^[A-Z]{3}$"
CurrencyCode = Annotated[
    str, msgspec.Meta(pattern=CURRENCY_PATTERN, description="ISO 4217 code", examples=["EUR"])
]
Metadata = Annotated[
    dict[str, Any],
    msgspec.Meta(description="Free-form JSON object (up to 16 KB, 5 levels, no NUL characters)"),
]

MAX_METADATA_BYTES = 16_384
MAX_METADATA_DEPTH = 5


class Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request body: unknown fields are refused, naming the field; objects are checked."""

    def __post_init__(self) -> None:
        for name, encode_name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, dict):
                problems = check_metadata(value, encode_name)
                if problems:
                    path, message = problems[0]
                    raise ValueError(f"{path} {message}")


@cache
def _field_names(typ: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(attribute, JSON name) of a struct's fields; resolving annotations is slow, so once."""
    return tuple((f.name, f.encode_name) for f in msgspec.structs.fields(typ))


class Output(msgspec.Struct, kw_only=True):
    """A response body."""


def check_metadata(value: dict[str, Any], param: str = "metadata") -> list[tuple[str, str]]:
    """Problems with a metadata object as ``(path, message)``: NUL characters, depth, size."""
    problems: list[tuple[str, str]] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            problems.append((path, f"nests deeper than {MAX_METADATA_DEPTH} levels"))
            return
        if isinstance(node, dict):
            for key, child in node.items():
                if "\x00" in key:
                    problems.append((path, "a key contains a NUL character"))
                walk(child, f"{path}.{key}", depth + 1)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]", depth + 1)
        elif isinstance(node, str) and "\x00" in node:
            problems.append((path, "contains a NUL character"))

    walk(value, param, 1)
    if not problems and len(msgspec.json.encode(value)) > MAX_METADATA_BYTES:
        problems.append((param, f"is larger than {MAX_METADATA_BYTES} bytes"))
    return problems


PATTERN_MESSAGES = {
    NO_NUL: "must not contain NUL characters",
    EMAIL_PATTERN: "is not a valid email address",
    URL_PATTERN: "must be an absolute http(s) URL such as https://shop.example/",
    CURRENCY_PATTERN: "must be an ISO 4217 currency code in capitals, such as EUR",
}


def described_pattern(pattern: str, message: str) -> str:
    """``pattern``, with the words a refused value is told (instead of the regex)."""
    PATTERN_MESSAGES[pattern] = message
    return pattern


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def split_msgspec_error(message: str) -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.a[0]`"`` → ``(".a[0]", "Expected `int`, got `str`")``."""
    match = _AT.search(message)
    path, text = ("", message) if match is None else (match.group("path"), message[: match.start()])
    return path, _friendly(text)


def _friendly(message: str) -> str:
    if "matching regex" in message:
        for pattern, friendly in PATTERN_MESSAGES.items():
            if repr(pattern)[1:-1] in message or pattern in message:
                return friendly
        return "is not in the expected format"
    return message
