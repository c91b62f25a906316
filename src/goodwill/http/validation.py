"""Decoding request bodies, and when they are wrong, naming *every* offending field.

msgspec stops at the first error. The fast path decodes with msgspec as usual; only a body that
failed is walked again here, field by field, to list all of its problems.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec

from goodwill.errors import FieldError, InvalidJSON, ValidationFailed
from goodwill.http.schema import Input, check_metadata, split_msgspec_error

T = TypeVar("T")


def decode_body(body: bytes, typ: type[T]) -> T:
    """Decode and validate ``body`` as ``typ``, raising InvalidJSON or ValidationFailed."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc}") from None
    return convert(raw, typ)


def convert(raw: Any, typ: type[T]) -> T:
    errors = collect_errors(raw, typ, "")
    if errors:
        raise ValidationFailed(errors)
    try:
        return msgspec.convert(raw, typ, strict=False)
    except msgspec.ValidationError as exc:  # a cross-field rule in __post_init__
        path, message = split_msgspec_error(str(exc))
        raise ValidationFailed([FieldError(_param(path) or "body", "invalid", message)]) from None


def _param(path: str) -> str:
    return path.lstrip(".")


def _unwrap_optional(typ: Any) -> Any:
    origin = get_origin(typ)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(typ) if a not in (type(None), msgspec.UnsetType)]
        if len(args) == 1:
            return _unwrap_optional(args[0])
    if origin is typing.Annotated:
        return _unwrap_optional(get_args(typ)[0])
    return typ


def collect_errors(raw: Any, typ: Any, path: str) -> list[FieldError]:
    """Every problem of ``raw`` against ``typ``; an empty list means it converts."""
    inner = _unwrap_optional(typ)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct) and isinstance(raw, dict):
        return _struct_errors(raw, inner, path)
    if (
        get_origin(inner) is dict
        and isinstance(raw, dict)
        and get_args(inner)[1:] not in ((), (Any,))
    ):
        return _dict_errors(raw, inner, path)
    if get_origin(inner) is list and isinstance(raw, list):
        (item_type,) = get_args(inner) or (Any,)
        errors: list[FieldError] = []
        for index, item in enumerate(raw):
            errors.extend(collect_errors(item, item_type, f"{path}[{index}]"))
        return errors
    try:
        msgspec.convert(raw, typ, strict=False)
    except msgspec.ValidationError as exc:
        sub, message = split_msgspec_error(str(exc))
        return [FieldError(_param(path + sub) or "body", _code(message), message)]
    if get_origin(inner) is dict and isinstance(raw, dict):
        return [FieldError(_param(p), "invalid", m) for p, m in check_metadata(raw, path)]
    return []


def _dict_errors(raw: dict[Any, Any], typ: Any, path: str) -> list[FieldError]:
    """A typed mapping (``dict[str, Struct]``): each entry checked under its key's path."""
    key_type, value_type = get_args(typ)
    errors: list[FieldError] = []
    for key, value in raw.items():
        sub = f"{path}.{key}"
        try:
            msgspec.convert(key, key_type, strict=False)
        except msgspec.ValidationError as exc:
            _, message = split_msgspec_error(str(exc))
            errors.append(FieldError(_param(sub), "invalid_key", f"the key: {message}"))
        errors.extend(collect_errors(value, value_type, sub))
    return errors


def _code(message: str) -> str:
    if message.startswith("Object missing required field"):
        return "required"
    if message.startswith("Expected") and ", got `" in message:
        return "invalid_type"
    return "invalid"


def _struct_errors(raw: dict[str, Any], typ: type[msgspec.Struct], path: str) -> list[FieldError]:
    hints = typing.get_type_hints(typ, include_extras=True)
    fields = {f.encode_name: f for f in msgspec.structs.fields(typ)}
    errors: list[FieldError] = []
    if issubclass(typ, Input) or typ.__struct_config__.forbid_unknown_fields:
        errors.extend(
            FieldError(_param(f"{path}.{key}"), "unknown_field", f"unknown field {key!r}")
            for key in raw
            if key not in fields
        )
    for name, field in fields.items():
        if name not in raw:
            if field.required:
                errors.append(FieldError(_param(f"{path}.{name}"), "required", "is required"))
            continue
        errors.extend(collect_errors(raw[name], hints[field.name], f"{path}.{name}"))
    return errors
