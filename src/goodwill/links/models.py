from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from goodwill.db import Base


class ReferralLink(Base):
    """A promoter's link. ``code`` is unique across the install: ``/r/{code}`` is a public URL
    that names no workspace, so a code can only ever lead to one link."""

    __tablename__ = "referral_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    promoter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("promoters.id"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    destination_url: Mapped[str] = mapped_column(String(2000))
    utm_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_referral_links_workspace_id_promoter_id", "workspace_id", "promoter_id"),
    )


class Click(Base):
    """A visit through a link. The visitor's IP is kept only as a salted hash."""

    __tablename__ = "clicks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID]
    link_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referral_links.id"))
    program_id: Mapped[uuid.UUID]
    promoter_id: Mapped[uuid.UUID]
    utm_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    referrer: Mapped[str | None] = mapped_column(String(2000))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    # Only when the program has click rules: which fired and why.
    explanation: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_clicks_link_id", "link_id"),
        Index("ix_clicks_promoter_id", "promoter_id"),
    )


class InstallSecret(Base):
    """Secrets this install generated for itself once (e.g. the salt for hashing click IPs)."""

    __tablename__ = "install_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
