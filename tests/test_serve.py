"""`goodwill serve` as a real process on a fresh SQLite file: it migrates the file itself, listens
where it is told, and logs one JSON line per request with the request id and the key's prefix."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "sqlite", reason="serve migrates the embedded SQLite default"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _goodwill(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "goodwill", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOODWILL_")}
    return {**clean, "GOODWILL_LOG_LEVEL": "info", "GOODWILL_LOG_FORMAT": "json", "COLUMNS": "250"}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`goodwill serve --port N` in an empty directory: the default database goodwill.db there."""
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "goodwill", "serve", "--port", str(port), "--no-worker"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield base, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_migrates_the_default_database_and_logs_each_request(
    server: tuple[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    base, log_path = server
    assert (tmp_path / "goodwill.db").is_file()  # the default: goodwill.db in the working dir
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["schema_revision"] == ready["latest_revision"]

    workspace = _goodwill(env, tmp_path, "workspace", "create", "Shop").strip()
    created = _goodwill(env, tmp_path, "key", "create", "--workspace", workspace)
    found = re.search(r"(gw_sk_\S+)", created)
    assert found is not None
    secret = found.group(1)
    prefix = secret[: len("gw_sk_") + 10]

    r = httpx.get(f"{base}/v1/customers", headers={"X-Api-Key": secret, "X-Request-Id": "trace-42"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "trace-42"
    r = httpx.get(f"{base}/v1/customers/not-there", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 404
    generated = r.headers["x-request-id"]
    assert generated.startswith("req_")

    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
        requests = {x["request_id"]: x for x in lines if x.get("event") == "request"}
        if {"trace-42", generated} <= requests.keys() or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    first = requests["trace-42"]
    assert (first["method"], first["path"], first["status"]) == ("GET", "/v1/customers", 200)
    assert first["key"] == prefix
    assert first["level"] == "info"
    assert isinstance(first["duration_ms"], float | int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", first["timestamp"])
    assert requests[generated]["status"] == 404
    assert secret not in log_path.read_text()  # only the visible prefix is ever logged
