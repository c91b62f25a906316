from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from goodwill.clock import format_time
from goodwill.http.schema import Input, Output, ShortText
from goodwill.workspaces.models import Workspace

# What <prefix>.purchase.created may start with (the API and the command line check it).
EVENT_TYPE_PREFIX_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"
EventTypePrefix = Annotated[
    str,
    msgspec.Meta(
        pattern=EVENT_TYPE_PREFIX_PATTERN,
        description="CloudEvents type prefix: <prefix>.purchase.created",
        examples=["com.example.shop"],
    ),
]

# Each workspace setting and its default.
DEFAULT_SETTINGS: dict[str, Any] = {
    # Accept custom events only when their name has an event schema.
    "events_require_schema": False,
}


class WorkspaceSettingsPatch(Input):
    events_require_schema: bool | UnsetType = UNSET


class WorkspacePatch(Input):
    name: ShortText | UnsetType = UNSET
    event_type_prefix: EventTypePrefix | UnsetType = UNSET
    settings: WorkspaceSettingsPatch | UnsetType = UNSET


def effective_settings(stored: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **stored}


class WorkspaceOut(Output):
    id: uuid.UUID
    name: str
    event_type_prefix: str
    settings: dict[str, Any]
    created_at: str
    object: str = "workspace"

    @classmethod
    def of(cls, w: Workspace) -> WorkspaceOut:
        return cls(
            id=w.id,
            name=w.name,
            event_type_prefix=w.event_type_prefix,
            settings=effective_settings(w.settings),
            created_at=format_time(w.created_at),
        )
