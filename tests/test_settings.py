from __future__ import annotations

from pathlib import Path

import pytest

from goodwill.settings import Settings, to_async_url


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GOODWILL_PORT=9000\nGOODWILL_HOST=127.0.0.2\nOTHER=1\n")
    settings = Settings.from_env({"GOODWILL_PORT": "9100"}, env_file=env_file)
    assert settings.port == 9100
    assert settings.host == "127.0.0.2"
    assert settings.database_url == "sqlite:///goodwill.db"


def test_bad_values_stop_with_a_message() -> None:
    with pytest.raises(SystemExit, match="port"):
        Settings.from_env({"GOODWILL_PORT": "eighty"}, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GOODWILL_WEBHOOK_BATCH_SIZE", "0"),
        ("GOODWILL_WEBHOOK_CONCURRENCY", "-1"),
        ("GOODWILL_WEBHOOK_TIMEOUT_SECONDS", "0"),
        ("GOODWILL_WEBHOOK_LEASE_SECONDS", "-5"),
        ("GOODWILL_WEBHOOK_POLL_SECONDS", "0"),
    ],
)
def test_webhook_worker_settings_must_be_positive(variable: str, value: str) -> None:
    name = variable.removeprefix("GOODWILL_").lower()
    with pytest.raises(SystemExit, match=name):
        Settings.from_env({variable: value}, env_file=None)
    assert getattr(Settings.from_env({variable: "2"}, env_file=None), name) == 2


def test_database_urls_get_async_drivers() -> None:
    assert to_async_url("sqlite:///goodwill.db") == "sqlite+aiosqlite:///goodwill.db"
    assert to_async_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_async_url("postgresql+psycopg://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(SystemExit):
        to_async_url("mysql://x")
