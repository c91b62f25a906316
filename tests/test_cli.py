"""The goodwill command against a real database file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from goodwill.cli import app
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "sqlite", reason="the CLI is exercised on a scratch SQLite file"
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    return {"GOODWILL_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "250"}


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_workspace_and_keys_lifecycle(env: dict[str, str]) -> None:
    run(env, "migrate")
    workspace_id = run(env, "workspace", "create", "Acme").strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", workspace_id)

    secret_out = run(env, "key", "create", "--workspace", workspace_id, "--name", "backend")
    secret = re.search(r"gw_sk_\S+", secret_out)
    assert secret is not None
    client_out = run(
        env,
        "key",
        "create",
        "--workspace",
        workspace_id,
        "--client",
        "--origin",
        "https://shop.example",
        "--origin",
        "http://localhost:3000",
    )
    assert re.search(r"gw_app_\S+", client_out)
    assert re.search(r"gw_ct_\S+", client_out)
    assert "http://localhost:3000, https://shop.example" in client_out

    listed = run(env, "key", "list", "--workspace", workspace_id)
    assert secret.group(0)[:16] in listed  # the visible prefix
    assert secret.group(0) not in listed  # never the secret
    assert "client" in listed

    prefix = secret.group(0)[:16]
    revoked = run(env, "key", "revoke", prefix)
    assert f"Revoked {prefix}" in revoked


def test_client_key_needs_an_origin_and_origin_needs_client(env: dict[str, str]) -> None:
    run(env, "migrate")
    workspace_id = run(env, "workspace", "create", "Acme").strip()
    result = CliRunner().invoke(
        app, ["key", "create", "--workspace", workspace_id, "--client"], env=env
    )
    assert result.exit_code == 2
    assert "origin" in result.output
    result = CliRunner().invoke(
        app, ["key", "create", "--workspace", workspace_id, "--origin", "https://x.io"], env=env
    )
    assert result.exit_code == 2
    result = CliRunner().invoke(
        app, ["key", "create", "--workspace", "00000000-0000-0000-0000-000000000000"], env=env
    )
    assert result.exit_code == 2
    assert "No workspace" in result.output


def test_demo_runs_once(env: dict[str, str]) -> None:
    first = run(env, "demo")
    assert "gw_sk_" in first
    assert "curl" in first
    second = run(env, "demo")
    assert "gw_sk_" not in second


def test_workspace_event_type_prefix(env: dict[str, str]) -> None:
    run(env, "migrate")
    run(env, "workspace", "create", "Seed shop", "--event-type-prefix", "in.org.quicko.cliq")
    assert "in.org.quicko.cliq" in run(env, "workspace", "list")
    for bad in ("bad prefix!", "", ".starts.with.dot", "x" * 101):
        result = CliRunner().invoke(
            app, ["workspace", "create", "Bad", "--event-type-prefix", bad], env=env
        )
        assert result.exit_code == 2, (bad, result.output)
        assert "event_type_prefix" in result.output, bad
    assert "Bad" not in run(env, "workspace", "list")  # nothing was created
