"""Settings, read from ``GOODWILL_*`` environment variables and an optional ``.env`` file.

Nothing here connects to anything: :func:`Settings.from_env` only reads text, and tests build
``Settings(...)`` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite:///goodwill.db"
# Checked when read from the environment (a batch of 0 would silently deliver nothing).
Positive = Annotated[float, msgspec.Meta(gt=0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything Goodwill can be configured with. Each field is ``GOODWILL_<NAME>``."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    max_body_bytes: int = 1_048_576
    idempotency_retention_hours: int = 48
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    database_pool_size: int = 20
    # How PostgreSQL plans Goodwill's prepared statements, and how long a connection (with the
    # plans it cached) is used before a new one replaces it (docs/operations.md).
    postgres_plan_cache_mode: Literal["force_custom_plan", "auto", "force_generic_plan"] = "auto"
    postgres_connection_max_age_seconds: Positive = 30.0
    public_base_url: str = "http://127.0.0.1:8000"
    # The benchmark's echo endpoint (make bench); never needed in production.
    bench_echo: bool = False
    # Webhooks and the delivery worker (docs/webhooks.md).
    webhook_allow_private: bool = False
    webhook_timeout_seconds: Positive = 15.0
    webhook_lease_seconds: Positive = 60.0
    webhook_batch_size: AtLeastOne = 200
    webhook_concurrency: AtLeastOne = 32
    webhook_poll_seconds: Positive = 1.0
    run_worker: bool = True
    nats_allowed_urls: str = ""
    # Salt for the hash of a click's IP address; empty: a random salt generated once per install
    # and kept in the database (docs/referrals.md).
    ip_hash_salt: str = ""
    # Requests a minute per client key and client address on /client/v1 (0: no limit). Counted
    # in each server process on its own.
    client_rate_limit: Annotated[int, msgspec.Meta(ge=0)] = 120

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Read settings: the process environment wins over the ``.env`` file."""
        values: dict[str, Any] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        fields = {f.name for f in msgspec.structs.fields(cls)}
        raw = {
            key[len("GOODWILL_") :].lower(): value
            for key, value in values.items()
            if key.startswith("GOODWILL_") and key[len("GOODWILL_") :].lower() in fields
        }
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"Invalid configuration: {exc}") from exc

    @property
    def async_database_url(self) -> str:
        """The database URL with the async driver Goodwill uses for its dialect."""
        return to_async_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def nats_urls(self) -> frozenset[str]:
        """The NATS servers an endpoint of type ``nats`` may publish to (comma-separated)."""
        return frozenset(u.strip() for u in self.nats_allowed_urls.split(",") if u.strip())


def to_async_url(url: str) -> str:
    """``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``; ``postgresql://`` → ``+asyncpg``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SystemExit(f"Invalid GOODWILL_DATABASE_URL {url!r}: expected scheme://...")
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if dialect in {"postgresql", "postgres"}:
        return f"postgresql+asyncpg://{rest}"
    raise SystemExit(f"Unsupported database {dialect!r}: use sqlite:// or postgresql://")
