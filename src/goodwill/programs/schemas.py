from __future__ import annotations

import uuid
from typing import Any, Literal

from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.http.schema import CurrencyCode, Input, Output, ShortText
from goodwill.programs.models import Program

Kind = Literal["referral", "stamps", "points"]
Status = Literal["active", "paused", "archived"]


class ProgramCreate(Input):
    kind: Kind
    name: ShortText
    currency: CurrencyCode
    status: Status = "active"
    settings: dict[str, Any] | None = None


class ProgramPatch(Input):
    name: ShortText | UnsetType = UNSET
    status: Status | UnsetType = UNSET
    settings: dict[str, Any] | UnsetType = UNSET


class ProgramOut(Output):
    id: uuid.UUID
    kind: str
    name: str
    currency: str
    status: str
    settings: dict[str, Any]
    created_at: str
    updated_at: str
    object: str = "program"

    @classmethod
    def of(cls, p: Program) -> ProgramOut:
        return cls(
            id=p.id,
            kind=p.kind,
            name=p.name,
            currency=p.currency,
            status=p.status,
            settings=p.settings,
            created_at=format_time(p.created_at),
            updated_at=format_time(p.updated_at),
        )


__all__ = ["Kind", "ProgramCreate", "ProgramOut", "ProgramPatch", "Status"]
