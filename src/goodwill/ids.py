"""Identifiers: time-ordered UUIDs (version 7) and random secrets."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from uuid_utils import compat

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def new_id() -> uuid.UUID:
    """A UUIDv7: unique, and sorting by it sorts by creation time."""
    return compat.uuid7()


def _milliseconds(moment: datetime) -> int:
    # Times before 1970 (which a UUIDv7 cannot hold) all take its first millisecond.
    return max(0, (moment - _EPOCH) // _MILLISECOND)


def new_id_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 whose time is ``moment``'s millisecond: ids made this way sort by the time
    they were made for, and :func:`first_id_at` bounds them from below."""
    return compat.uuid7(nanoseconds=_milliseconds(moment) * 1_000_000)


def first_id_at(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of ``moment``'s millisecond: every :func:`new_id_at` of a time at
    or after ``moment`` is at least this."""
    return uuid.UUID(int=_milliseconds(moment) << 80)


# No 0/O, 1/l/I: codes people read aloud or type from a screen.
UNAMBIGUOUS_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


def random_code(length: int = 8, alphabet: str = UNAMBIGUOUS_ALPHABET) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` with the system's CSPRNG (one
    read of random bytes, not one call per character; bytes past the largest multiple of the
    alphabet's size are discarded, so there is no modulo bias)."""
    size = len(alphabet)
    limit = 256 - 256 % size
    chosen: list[str] = []
    while len(chosen) < length:
        chosen.extend(alphabet[b % size] for b in secrets.token_bytes(length * 2) if b < limit)
    return "".join(chosen[:length])


def random_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
