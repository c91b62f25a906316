"""Running wrk with a Lua script and reading its numbers."""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ensure_wrk() -> str:
    """wrk from the Debian packages, installed on first use."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package) ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50: float
    p90: float
    p99: float
    max: float
    statuses: dict[int, int]
    errors: int
    raw: str
    wrk_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0

    @property
    def server_cpu_us_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    def ok(self, *codes: int) -> int:
        return sum(self.statuses.get(c, 0) for c in codes)


def run_wrk(
    url: str,
    script: Path,
    *,
    duration: int,
    connections: int,
    threads: int = 1,
    args: list[str] | None = None,
) -> WrkResult:
    cmd = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    if args:
        cmd += ["--", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.stderr.strip() or "status " not in done.stdout:
        raise RuntimeError(f"wrk script {script} failed:\n{done.stderr}\n{done.stdout}")
    result = parse(done.stdout)
    result.wrk_cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def parse(out: str) -> WrkResult:
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    dist = {
        k.split(".")[0]: v for k, v in re.findall(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$", out, re.M)
    }
    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    statuses = {int(k): int(v) for k, v in re.findall(r"^status (\d+): (\d+)$", out, re.M)}
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    if not (lat and total and rps and {"50", "90", "99"} <= set(dist)):
        raise RuntimeError(f"unreadable wrk output:\n{out}")
    seconds = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=seconds,
        rps=float(rps.group(1)),
        p50=_ms(dist["50"]),
        p90=_ms(dist["90"]),
        p99=_ms(dist["99"]),
        max=_ms(lat.group(3)),
        statuses=statuses,
        errors=errors,
        raw=out,
    )


STATUS_REPORT = """
statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d: %d\\n", code, n)) end
end
"""
