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
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
