from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # CloudEvents type prefix: ``<prefix>.purchase.created``.
    event_type_prefix: Mapped[str] = mapped_column(String(200), default="goodwill")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Changed by triggers with every change to the programs, rules and webhook subscriptions
    # (migration 0005); processes cache those under it (goodwill.workspaces.config).
    config_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A secret server key, or a client key pair (public application id + client token).

    Only a SHA-256 of the secret part is stored: the keys are 192-bit random tokens, so a fast
    hash is enough, and a lookup is one indexed equality.
    """

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "secret" | "client"
    name: Mapped[str | None] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    application_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    allowed_origins: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_api_keys_workspace_id", "workspace_id", "created_at"),)
