"""Keeping webhook delivery away from private networks (server-side request forgery).

An endpoint URL must be ``https`` and every address its host resolves to must be public.
It is checked when the endpoint is saved, and again at each delivery, where the request is
sent to the very address that was checked (the URL's host name stays in the ``Host`` header,
in TLS SNI and in the certificate check), so a DNS answer that changes between the check and the
connection cannot lead elsewhere. ``GOODWILL_WEBHOOK_ALLOW_PRIVATE=true`` allows ``http`` and
private or loopback addresses, for development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class Policy:
    """Which URL schemes may be called, and which resolved addresses may be connected to."""

    schemes: frozenset[str]
    accept: Callable[[IPAddress], bool]
    refusal: str = "webhooks may only call public addresses"


def policy(*, allow_private: bool) -> Policy:
    if allow_private:
        return Policy(frozenset({"https", "http"}), lambda _address: True)
    return Policy(frozenset({"https"}), is_public)


def check_url_shape(url: str, rules: Policy) -> tuple[str, int]:
    """The host and port of a URL that may be a webhook endpoint, or :class:`Refused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"is not a valid URL ({exc})") from None
    if parts.scheme not in rules.schemes:
        raise Refused("must be an https:// URL")
    if not parts.hostname:
        raise Refused("has no host")
    if parts.username or parts.password:
        raise Refused("must not carry credentials")
    if parts.fragment:
        raise Refused("must not have a #fragment")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses, IPv4 first."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"host {host!r} does not resolve ({exc})") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Refused(f"host {host!r} does not resolve")
    return sorted(found, key=lambda a: a.version)


Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def checked_addresses(
    url: str, rules: Policy, resolver: Resolver = resolve
) -> list[IPAddress]:
    """The addresses of the URL's host, every one of them acceptable under ``rules``."""
    host, port = check_url_shape(url, rules)
    return await _checked(host, port, rules, resolver)


async def _checked(host: str, port: int, rules: Policy, resolver: Resolver) -> list[IPAddress]:
    addresses = await resolver(host, port)
    refused = [str(a) for a in addresses if not rules.accept(a)]
    if refused:
        raise Refused(
            f"host {host!r} resolves to a non-public address ({', '.join(refused)}); "
            + rules.refusal
        )
    return addresses


class GuardedResolver(AbstractResolver):
    """The webhook client's resolver: resolves a host name once, refuses it if any of its
    addresses is not acceptable under ``rules``, and returns only the checked addresses.

    aiohttp opens each new connection to an address this returned (it caches them for its DNS
    cache's time to live), while the URL keeps its host name for ``Host``, TLS SNI and the
    certificate check. aiohttp does not ask a resolver about IP-literal hosts, so every URL
    goes through :meth:`check`, which returns it parsed as aiohttp will use it.
    """

    def __init__(self, rules: Policy, resolver: Resolver = resolve) -> None:
        self.rules = rules
        self.resolver = resolver

    def check(self, url: str) -> URL:
        """The URL as aiohttp will request it, if the rules allow it: its shape, and a host that
        is an IP address (a host name is checked by :meth:`resolve` when a connection opens)."""
        check_url_shape(url, self.rules)
        parsed = URL(url)
        # What aiohttp reads, which decides whether it resolves the host or connects to it.
        host = parsed.raw_host or ""
        if parsed.scheme not in self.rules.schemes or parsed.user or parsed.password or not host:
            raise Refused("is not a URL webhooks may call")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            # What aiohttp takes for an address it connects to without resolving (127.1,
            # 2130706433): refuse it rather than let it pass unchecked.
            if ":" in host or host.replace(".", "").isdigit():
                raise Refused(f"host {host!r} is not a canonical IP address") from None
            return parsed
        if not self.rules.accept(address):
            raise Refused(f"host {host!r} is a non-public address; " + self.rules.refusal)
        return parsed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # The client's connector asks for any family (AF_UNSPEC), so every address is returned.
        addresses = await _checked(host, port, self.rules, self.resolver)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET if address.version == 4 else socket.AF_INET6,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None
