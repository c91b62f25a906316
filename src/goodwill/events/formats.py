"""How an event looks on the wire: three formats over the same stored row.

- ``cloudevents`` (default): CloudEvents 1.0 structured JSON. Context attributes stored with
  the event (``program_id``, ``promoter_id``) go out under names the spec allows: lowercase
  letters and digits only (``programid``, ``promoterid``).
- ``cloudevents_seed``: the same envelope with the attributes named exactly as our users'
  existing integrations expect them (``program_id``, ``promoter_id``, the seed 000 shape).
- ``flat``: ``{"event_id", "timestamp", "type", ...data}`` with the type unprefixed (the seed
  001 shape, e.g. ``qualifying_purchase.created``).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from goodwill.clock import format_time
from goodwill.http.encoding import encode

Format = Literal["cloudevents", "cloudevents_seed", "flat"]
FORMATS: tuple[str, ...] = ("cloudevents", "cloudevents_seed", "flat")

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"

_NOT_ALLOWED = re.compile(r"[^a-z0-9]")
# Attributes the spec defines; a stored attribute never overrides them.
_RESERVED = frozenset(
    {"id", "time", "specversion", "datacontenttype", "source", "type", "subject", "data"}
    | {"dataschema", "data_base64"}
)
FLAT_RESERVED = ("event_id", "timestamp", "type")


class EventLike(Protocol):
    """What rendering needs from an event: the stored row or its columns from a Core query."""

    @property
    def id(self) -> Any: ...
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> Any: ...


def attribute_name(name: str) -> str:
    """``program_id`` → ``programid``: CloudEvents attribute names are ``[a-z0-9]+``."""
    return _NOT_ALLOWED.sub("", name.lower())


def cloudevent(event: EventLike, prefix: str, *, seed_names: bool = False) -> dict[str, Any]:
    """The structured CloudEvent, keys in the order of seed 000."""
    body: dict[str, Any] = {
        "id": str(event.id),
        "time": format_time(event.created_at),
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    for key, value in (event.attributes or {}).items():
        name = key if seed_names else attribute_name(key)
        if name and name not in _RESERVED and value is not None:
            body[name] = value if seed_names else _attribute_value(value)
    body["source"] = event.source
    body["type"] = f"{prefix}.{event.type}" if prefix else event.type
    body["data"] = event.data
    body["subject"] = event.subject
    return body


def _attribute_value(value: Any) -> Any:
    # The spec's attribute types are string, integer, boolean (and URI, time as strings).
    if isinstance(value, str | bool | int):
        return value
    return str(value)


def flat(event: EventLike) -> dict[str, Any]:
    """The seed 001 shape. A data field named like an envelope field is left out here (the
    CloudEvents formats carry it)."""
    body: dict[str, Any] = {
        "event_id": str(event.id),
        "timestamp": format_time(event.created_at),
        "type": event.type,
    }
    for key, value in event.data.items():
        if key not in FLAT_RESERVED:
            body[key] = value
    return body


def render(event: EventLike, prefix: str, fmt: str) -> dict[str, Any]:
    if fmt == "flat":
        return flat(event)
    return cloudevent(event, prefix, seed_names=fmt == "cloudevents_seed")


def render_bytes(event: EventLike, prefix: str, fmt: str) -> tuple[bytes, str]:
    """The body to send and its content type."""
    # The seed shape is not a valid CloudEvent (``program_id``), so it is sent as plain JSON.
    content_type = CLOUDEVENTS_CONTENT_TYPE if fmt == "cloudevents" else JSON_CONTENT_TYPE
    return encode(render(event, prefix, fmt)), content_type
