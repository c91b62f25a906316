"""Identifiers: time-ordered UUIDs (version 7) and random secrets."""

from __future__ import annotations

import secrets
import uuid

from uuid_utils import compat


def new_id() -> uuid.UUID:
    """A UUIDv7: unique, and sorting by it sorts by creation time."""
    return compat.uuid7()


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
