"""Time: one clock type, passed as a parameter so tests can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from goodwill.errors import ValidationFailed

Clock = Callable[[], datetime]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """An aware datetime as whole microseconds since 1970-01-01 UTC: how SQLite stores times."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def utcnow() -> datetime:
    """Now, in UTC, truncated to the millisecond (the precision Goodwill stores and shows)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``: ``2026-04-06T06:23:54.991Z`` (always a
    four-digit year: ``strftime("%Y")`` writes the year 1 as ``1``)."""
    v = value if value.tzinfo is UTC else value.astimezone(UTC)
    # isoformat always writes four-digit years; "+00:00" becomes "Z"
    return v.isoformat(timespec="milliseconds")[:-6] + "Z"


def to_utc(value: datetime, param: str = "time") -> datetime:
    """An aware UTC datetime at millisecond precision; naive input is taken as UTC.

    A time whose UTC value falls outside years 1 to 9999 (``9999-12-31T23:59:59-05:00``) is a
    422 naming ``param``.
    """
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed.single(
            param, "is out of range: in UTC it must fall between 0001-01-01 and 9999-12-31"
        ) from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
