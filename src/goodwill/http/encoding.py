"""JSON out: msgspec, with decimals written as exact JSON numbers (``12.50``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from goodwill.clock import format_time


def _enc_hook(value: Any) -> Any:
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    """For JSON stored in the database (event data): UUIDs and times as strings."""
    return msgspec.to_builtins(value, enc_hook=_builtin_hook)


def _builtin_hook(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")
