"""The delivery-time SSRF guard: every resolved address is checked, and the connection goes to
the checked address while the URL keeps its host name."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import trustme

from goodwill.webhooks.client import WebhookClient
from goodwill.webhooks.ssrf import IPAddress, Policy, Refused, Resolver, policy, resolve
from tests.sink import running_sink

LOOPBACK_ONLY = Policy(frozenset({"http"}), lambda a: a.is_loopback, "loopback only")


def fixed(*addresses: str):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        calls.append((host, port))
        return [ipaddress.ip_address(a) for a in addresses]

    resolver.calls = calls  # type: ignore[attr-defined]
    return resolver


@asynccontextmanager
async def guarded(rules: Policy, resolver: Resolver = resolve) -> AsyncIterator[WebhookClient]:
    client = WebhookClient(rules, timeout=5, resolver=resolver)
    try:
        yield client
    finally:
        await client.aclose()


async def test_connects_to_the_checked_address_and_keeps_the_host_name() -> None:
    resolver = fixed("127.0.0.1")
    async with guarded(LOOPBACK_ONLY, resolver) as client:
        with running_sink() as sink:
            for _ in range(3):
                r = await client.post(f"http://hooks.example:{sink.port}/in", b"{}", {})
                assert r.status == 200
    assert [x.headers["Host"] for x in sink.received] == [f"hooks.example:{sink.port}"] * 3
    assert resolver.calls == [("hooks.example", sink.port)]  # resolved once, then pooled


async def test_one_bad_address_refuses_the_host() -> None:
    async with guarded(LOOPBACK_ONLY, fixed("127.0.0.1", "10.0.0.1")) as client:
        with (
            running_sink() as sink,
            pytest.raises(Refused, match=r"non-public address \(10\.0\.0\.1\)"),
        ):
            await client.post(f"http://hooks.example:{sink.port}/in", b"{}", {})
    assert sink.received == []


async def test_the_default_policy_refuses_http_and_loopback() -> None:
    async with guarded(policy(allow_private=False)) as client:
        with running_sink() as sink:
            with pytest.raises(Refused, match="https"):
                await client.post(sink.url(), b"{}", {})
            with pytest.raises(Refused, match="non-public"):
                await client.post(f"https://127.0.0.1:{sink.port}/", b"{}", {})
            with pytest.raises(Refused, match="non-public"):
                await client.post(f"https://localhost:{sink.port}/", b"{}", {})
            with pytest.raises(Refused, match="non-public"):  # 127.0.0.1 to the resolver
                await client.post(f"https://0x7f.1:{sink.port}/", b"{}", {})
    assert sink.received == []


async def test_allowing_private_addresses_lets_http_and_loopback_through() -> None:
    async with guarded(policy(allow_private=True)) as client:
        with running_sink() as sink:
            r = await client.post(sink.url(), b"{}", {})
    assert r.status == 200
    assert len(sink.received) == 1


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("10.0.0.1", "host '10.0.0.1' is a non-public address"),
        ("[::1]", "host '::1' is a non-public address"),
        ("[::ffff:127.0.0.1]", "host '::ffff:7f00:1' is a non-public address"),
        ("169.254.169.254", "host '169.254.169.254' is a non-public address"),
        ("127.1", "host '127.1' is not a canonical IP address"),
        ("2130706433", "host '2130706433' is not a canonical IP address"),
    ],
)
async def test_address_hosts_are_checked_without_a_resolver(host: str, why: str) -> None:
    # aiohttp connects to an IP-literal host without asking the resolver: the guard checks it.
    resolver = fixed("8.8.8.8")
    async with guarded(policy(allow_private=False), resolver) as client:
        with pytest.raises(Refused) as refused:
            await client.post(f"https://{host}:1/", b"{}", {})
    assert str(refused.value).startswith(why)
    assert resolver.calls == []


async def test_tls_goes_to_the_checked_address_with_the_host_name_for_sni_and_certificate() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.example").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    loopback_https = Policy(frozenset({"https"}), lambda a: a.is_loopback, "loopback only")
    resolver = fixed("127.0.0.1")
    client = WebhookClient(loopback_https, timeout=5, resolver=resolver, ssl_context=client_context)
    try:
        with running_sink(ssl_context=server_context) as sink:
            r = await client.post(f"https://hooks.example:{sink.port}/in", b"{}", {})
            assert r.status == 200
            # The certificate names hooks.example, not the address connected to.
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await client.post(f"https://other.example:{sink.port}/in", b"{}", {})
    finally:
        await client.aclose()
    assert sink.server_names == ["hooks.example", "other.example"]
    assert [x.headers["Host"] for x in sink.received] == [f"hooks.example:{sink.port}"]
    assert resolver.calls == [("hooks.example", sink.port), ("other.example", sink.port)]
