"""Storage: the declarative base, column types, the engine and the dialect-aware helpers."""

from goodwill.db.base import Base, JSONType, UTCDateTime
from goodwill.db.engine import Database

__all__ = ["Base", "Database", "JSONType", "UTCDateTime"]
