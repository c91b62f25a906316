"""The realistic workspace a bench run loads, and the wrk scripts that drive it."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from bench.wrk import STATUS_REPORT

PROMOTERS = 1_000
CUSTOMERS = 10_000
CLICKS = 1_000


@dataclass
class Workspace:
    key: str
    program_id: str = ""
    stamps_program_id: str = ""
    codes: list[str] = field(default_factory=list)
    link_ids: list[str] = field(default_factory=list)
    click_ids: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)


async def _gather_limited(n: int, coros: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(n)

    async def run(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def load(
    base_url: str, key: str, *, promoters: int = PROMOTERS, customers: int = CUSTOMERS
) -> Workspace:
    """A referral program with three rules (one a capped percentage, one first-purchase only),
    a stamps program, promoters with links, customers, and some clicks to attribute through."""
    ws = Workspace(key=key)
    headers = {"X-Api-Key": key}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await client.post(path, json=body)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"POST {path} -> {r.status_code} {r.text}")
            return dict(r.json())

        program = await post(
            "/v1/programs",
            {
                "kind": "referral",
                "name": "Friends",
                "currency": "EUR",
                "settings": {"destination_url": "https://shop.example/"},
            },
        )
        ws.program_id = program["id"]
        rules = [
            {
                "name": "10% capped at 20",
                "trigger": "purchase",
                "reward": {"type": "percentage", "percent": "10", "cap": "20.00"},
                "hold_days": 30,
            },
            {
                "name": "First purchase bonus",
                "trigger": "purchase",
                "conditions": {"field": "purchase_number", "op": "eq", "value": 1},
                "reward": {"type": "fixed", "amount": "5.00"},
                "hold_days": 30,
            },
            {
                "name": "Friend gets 3 on big baskets",
                "trigger": "purchase",
                "beneficiary": "referred_customer",
                "conditions": {"field": "amount", "op": "gte", "value": "50"},
                "reward": {"type": "fixed", "amount": "3.00"},
                "hold_days": 14,
            },
        ]
        for rule in rules:
            await post(f"/v1/programs/{ws.program_id}/rules", rule)
        stamps = await post(
            "/v1/programs",
            {
                "kind": "stamps",
                "name": "Coffee card",
                "currency": "EUR",
                "settings": {
                    "stamps_required": 9,
                    "reward": {"description": "The 10th coffee free"},
                },
            },
        )
        ws.stamps_program_id = stamps["id"]

        made = await _gather_limited(
            16,
            [
                post(
                    f"/v1/programs/{ws.program_id}/promoters",
                    {"name": f"Promoter {i}", "email": f"p{i}@example.com"},
                )
                for i in range(promoters)
            ],
        )
        for promoter in made:
            link = promoter["default_link"]
            ws.codes.append(link["code"])
            ws.link_ids.append(link["id"])
        await _gather_limited(
            16,
            [
                post("/v1/customers", {"source_id": f"cust-{i}", "email": f"c{i}@example.com"})
                for i in range(customers)
            ],
        )
        ws.customers = [f"cust-{i}" for i in range(customers)]

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as public:

        async def click(code: str) -> str:
            r = await public.get(f"/r/{code}?utm_source=bench")
            location = r.headers["location"]
            return parse_qs(urlsplit(location).query)["gw_click"][0]

        ws.click_ids = await _gather_limited(
            16, [click(random.choice(ws.codes)) for _ in range(CLICKS)]
        )
    return ws


def _lua_list(name: str, values: list[str]) -> str:
    return f"{name} = {{" + ",".join(json.dumps(v) for v in values) + "}\n"


# Numbers each wrk thread (``thread_id``, from 1) and lists it for the status report; a script
# that starts with this has its own ``setup`` (write_script leaves the report's out).
THREAD_IDS_LUA = r"""
setup_count = 0
function setup(thread)
  setup_count = setup_count + 1
  thread:set("thread_id", setup_count)
  table.insert(threads, thread)
end
"""

PURCHASE_LUA = (
    THREAD_IDS_LUA
    + r"""
counter = 0
newest = 0
function init(args)
  run_id = args[1]
  math.randomseed(thread_id * 7919 + #run_id)
end
sent = {}
function request()
  counter = counter + 1
  if counter > 40 and counter % 20 == 0 then
    -- 5%: the very same request again (a client retrying), answered 200 with the first result
    return wrk.format("POST", path, headers, sent[counter - 37])
  end
  local ext = run_id .. "-" .. thread_id .. "-" .. counter
  -- Half the purchases are a customer's first in the workload (a new card, and a new referral
  -- when attributed), half a customer's who bought earlier in it: the same mix however many
  -- purchases a run gets through (until 10,000 first purchases).
  local c
  if counter % 2 == 1 or newest == 0 then
    newest = newest + 1
    c = customers[(newest * 7 + thread_id) % #customers + 1]
  else
    c = customers[(math.random(newest) * 7 + thread_id) % #customers + 1]
  end
  local cents = math.random(500, 15000)
  local attribution = ""
  local r = counter % 10
  if r < 2 then attribution = ',"link_id":"' .. link_ids[math.random(#link_ids)] .. '"'
  elseif r < 4 then attribution = ',"code":"' .. codes[math.random(#codes)] .. '"'
  elseif r < 6 then attribution = ',"click_id":"' .. click_ids[math.random(#click_ids)] .. '"'
  end
  local body = string.format(
    '{"external_id":"%s","customer":{"source_id":"%s"},"amount":"%d.%02d","currency":"EUR",' ..
    '"items":[{"item_id":"sku-%d","quantity":1,"amount":"%d.%02d"}]%s}',
    ext, c, math.floor(cents / 100), cents % 100, cents % 50, math.floor(cents / 100), cents % 100, attribution)
  sent[counter] = body
  sent[counter - 60] = nil
  return wrk.format("POST", path, headers, body)
end
"""
)

CLICK_LUA = r"""
counter = 0
function request()
  counter = counter + 1
  return wrk.format("GET", "/r/" .. codes[(counter * 13) % #codes + 1] .. "?utm_source=bench&utm_medium=wrk")
end
"""

EVENT_LUA = r"""
counter = 0
function request()
  counter = counter + 1
  local c = customers[(counter * 11) % #customers + 1]
  local body = string.format(
    '{"event":"page_viewed","customer":{"source_id":"%s"},"metadata":{"page":"/p/%d","n":%d}}', c, counter % 100, counter)
  return wrk.format("POST", "/v1/events", headers, body)
end
"""


def write_script(
    path: Path, ws: Workspace, body: str, *, endpoint: str = "/v1/purchases", pace_ms: float = 0
) -> Path:
    header = (
        "threads = {}\n"
        + _lua_list("codes", ws.codes)
        + _lua_list("link_ids", ws.link_ids)
        + _lua_list("click_ids", ws.click_ids)
        + _lua_list("customers", ws.customers)
        + f'headers = {{["X-Api-Key"]="{ws.key}", ["Content-Type"]="application/json"}}\n'
        + f'path = "{endpoint}"\n'
    )
    pacing = f"function delay() return {pace_ms:.3f} end\n" if pace_ms else ""
    status = STATUS_REPORT.replace("threads = {}\n", "")
    if "function setup" in body:
        status = status.replace(
            "function setup(thread)\n  table.insert(threads, thread)\nend\n", ""
        )
    path.write_text(header + body + pacing + status)
    return path
