"""Creating workspaces and keys, and turning a presented key into a principal."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.db.raw import Raw, Sql
from goodwill.errors import NotFound, ValidationFailed
from goodwill.ids import new_id, random_token
from goodwill.workspaces.models import ApiKey, Workspace
from goodwill.workspaces.schemas import EVENT_TYPE_PREFIX_PATTERN, WorkspacePatch

SECRET_PREFIX = "gw_sk_"
CLIENT_TOKEN_PREFIX = "gw_ct_"
APPLICATION_PREFIX = "gw_app_"
VISIBLE_CHARS = 10


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the workspace, which key, and of what kind."""

    workspace_id: uuid.UUID
    key_id: uuid.UUID
    key_prefix: str
    kind: str
    event_type_prefix: str
    workspace_settings: dict[str, object]
    allowed_origins: tuple[str, ...] = ()
    # The workspace's configuration version when the key was checked (goodwill.workspaces.config)
    config_version: int | None = None


class IssuedKey(msgspec.Struct, frozen=True):
    key: ApiKey
    secret: str  # the full secret key or client token: shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_origin(origin: str) -> str:
    """``https://Shop.example:443/`` → ``https://shop.example``; refuses anything but an origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed.single(
            "origin", f"{origin!r} is not an origin like https://shop.example"
        )
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise ValidationFailed.single("origin", f"{origin!r} has more than scheme, host and port")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in {None, default_port} else f":{parts.port}"
    return f"{parts.scheme}://{parts.hostname}{port}"


async def create_workspace(
    session: AsyncSession, name: str, now: datetime, event_type_prefix: str = "goodwill"
) -> Workspace:
    if not name.strip() or len(name) > 200 or "\x00" in name:
        raise ValidationFailed.single("name", "must be 1-200 characters")
    if not re.match(EVENT_TYPE_PREFIX_PATTERN, event_type_prefix):
        raise ValidationFailed.single(
            "event_type_prefix",
            "must be 1-100 letters, digits, '.', '_' or '-', starting and ending with a letter "
            "or digit (com.example.shop)",
        )
    workspace = Workspace(
        id=new_id(), name=name, event_type_prefix=event_type_prefix, settings={}, created_at=now
    )
    session.add(workspace)
    await session.flush()
    return workspace


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace {workspace_id}")
    return workspace


async def update_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, data: WorkspacePatch
) -> Workspace:
    """Change the name, event type prefix or settings given (settings merge key by key)."""
    workspace = await get_workspace(session, workspace_id)
    await session.execute(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update()
    )
    await session.refresh(workspace)
    if data.name is not msgspec.UNSET:
        if not data.name.strip():
            raise ValidationFailed.single("name", "must not be blank")
        workspace.name = data.name
    if data.event_type_prefix is not msgspec.UNSET:
        workspace.event_type_prefix = data.event_type_prefix
    if data.settings is not msgspec.UNSET:
        changes = {
            f.name: getattr(data.settings, f.name)
            for f in msgspec.structs.fields(data.settings)
            if getattr(data.settings, f.name) is not msgspec.UNSET
        }
        workspace.settings = {**workspace.settings, **changes}
    await session.flush()
    return workspace


async def create_secret_key(
    session: AsyncSession, workspace_id: uuid.UUID, now: datetime, name: str | None = None
) -> IssuedKey:
    await get_workspace(session, workspace_id)
    secret = SECRET_PREFIX + random_token(24)
    key = ApiKey(
        id=new_id(),
        workspace_id=workspace_id,
        kind="secret",
        name=name,
        prefix=secret[: len(SECRET_PREFIX) + VISIBLE_CHARS],
        secret_hash=hash_secret(secret),
        application_id=None,
        allowed_origins=[],
        created_at=now,
        revoked_at=None,
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, secret=secret)


async def create_client_key(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    origins: Sequence[str],
    now: datetime,
    name: str | None = None,
) -> IssuedKey:
    await get_workspace(session, workspace_id)
    if not origins:
        raise ValidationFailed.single("origin", "a client key needs at least one allowed origin")
    allowed = sorted({normalize_origin(o) for o in origins})
    token = CLIENT_TOKEN_PREFIX + random_token(24)
    key = ApiKey(
        id=new_id(),
        workspace_id=workspace_id,
        kind="client",
        name=name,
        prefix=token[: len(CLIENT_TOKEN_PREFIX) + VISIBLE_CHARS],
        secret_hash=hash_secret(token),
        application_id=APPLICATION_PREFIX + random_token(12),
        allowed_origins=allowed,
        created_at=now,
        revoked_at=None,
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, secret=token)


async def list_keys(session: AsyncSession, workspace_id: uuid.UUID | None) -> Sequence[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if workspace_id is not None:
        stmt = stmt.where(ApiKey.workspace_id == workspace_id)
    return (await session.scalars(stmt)).all()


async def revoke_key(session: AsyncSession, key_id_or_prefix: str, now: datetime) -> ApiKey:
    """Revoke by id or visible prefix; revoking twice keeps the first time."""
    stmt = select(ApiKey)
    try:
        stmt = stmt.where(ApiKey.id == uuid.UUID(key_id_or_prefix))
    except ValueError:
        stmt = stmt.where(ApiKey.prefix == key_id_or_prefix)
    keys = (await session.scalars(stmt)).all()
    if len(keys) != 1:
        raise NotFound(f"No single key matches {key_id_or_prefix!r}")
    key = keys[0]
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.refresh(key)
    return key


async def origin_allowed(session: AsyncSession, origin: str) -> bool:
    """Whether any active client key allows ``origin`` (normalized): for CORS preflights,
    which carry no credentials to say which key they are for."""
    rows = await session.scalars(
        select(ApiKey.allowed_origins).where(ApiKey.kind == "client", ApiKey.revoked_at.is_(None))
    )
    return any(origin in origins for origins in rows)


_AUTHENTICATE = Sql(
    "SELECT k.id, k.kind, k.prefix, k.application_id, k.allowed_origins, w.id, "
    "w.event_type_prefix, w.settings, w.config_version "
    "FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id "
    "WHERE k.secret_hash = :secret_hash AND k.revoked_at IS NULL"
)


async def authenticate(
    db: Raw, secret: str, *, kind: str, application_id: str | None = None
) -> Principal | None:
    """The principal for a presented secret, or None if unknown, revoked or of another kind.

    One indexed lookup in hand-written SQL outside any transaction (``Database.statements``):
    it runs on every request.
    """
    row = await db.one(_AUTHENTICATE, secret_hash=hash_secret(secret))
    if row is None:
        return None
    (
        key_id,
        key_kind,
        prefix,
        key_application_id,
        origins,
        workspace_id,
        type_prefix,
        settings,
        config_version,
    ) = row
    if key_kind != kind or (kind == "client" and key_application_id != application_id):
        return None
    return Principal(
        workspace_id=db.uuid_of(workspace_id),
        key_id=db.uuid_of(key_id),
        key_prefix=prefix,
        kind=key_kind,
        event_type_prefix=type_prefix,
        workspace_settings=dict(db.json_of(settings) or {}),
        allowed_origins=tuple(db.json_of(origins) or ()),
        config_version=int(config_version),
    )
