"""The delivery-time SSRF guard: every resolved address is checked, and the connection goes to
the checked address while the URL keeps its host name."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from goodwill.webhooks.ssrf import GuardedTransport, IPAddress, Policy, Refused, policy
from tests.sink import running_sink

LOOPBACK_ONLY = Policy(frozenset({"http"}), lambda a: a.is_loopback, "loopback only")


def fixed(*addresses: str):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        calls.append((host, port))
        return [ipaddress.ip_address(a) for a in addresses]

    resolver.calls = calls  # type: ignore[attr-defined]
    return resolver


async def test_connects_to_the_checked_address_and_keeps_the_host_name() -> None:
    resolver = fixed("127.0.0.1")
    transport = GuardedTransport(LOOPBACK_ONLY, resolver=resolver)
    async with httpx.AsyncClient(transport=transport) as client:
        with running_sink() as sink:
            for _ in range(3):
                r = await client.post(f"http://hooks.example:{sink.port}/in", content=b"{}")
                assert r.status_code == 200
    assert [x.headers["Host"] for x in sink.received] == [f"hooks.example:{sink.port}"] * 3
    assert resolver.calls == [("hooks.example", sink.port)]  # resolved once, then pooled


async def test_one_bad_address_refuses_the_host() -> None:
    transport = GuardedTransport(LOOPBACK_ONLY, resolver=fixed("127.0.0.1", "10.0.0.1"))
    async with httpx.AsyncClient(transport=transport) as client:
        with (
            running_sink() as sink,
            pytest.raises(Refused, match=r"non-public address \(10\.0\.0\.1\)"),
        ):
            await client.post(f"http://hooks.example:{sink.port}/in", content=b"{}")
    assert sink.received == []


async def test_the_default_policy_refuses_http_and_loopback() -> None:
    transport = GuardedTransport(policy(allow_private=False))
    async with httpx.AsyncClient(transport=transport) as client:
        with running_sink() as sink:
            with pytest.raises(Refused, match="https"):
                await client.post(sink.url(), content=b"{}")
            with pytest.raises(Refused, match="non-public"):
                await client.post(f"https://127.0.0.1:{sink.port}/", content=b"{}")
            with pytest.raises(Refused, match="non-public"):
                await client.post(f"https://localhost:{sink.port}/", content=b"{}")
    assert sink.received == []


async def test_allowing_private_addresses_lets_http_and_loopback_through() -> None:
    transport = GuardedTransport(policy(allow_private=True))
    async with httpx.AsyncClient(transport=transport) as client:
        with running_sink() as sink:
            r = await client.post(sink.url(), content=b"{}")
    assert r.status_code == 200
    assert len(sink.received) == 1
