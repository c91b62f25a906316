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


def test_database_urls_get_async_drivers() -> None:
    assert to_async_url("sqlite:///goodwill.db") == "sqlite+aiosqlite:///goodwill.db"
    assert to_async_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_async_url("postgresql+psycopg://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(SystemExit):
        to_async_url("mysql://x")
