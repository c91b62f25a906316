"""Keeping webhook delivery away from private networks (server-side request forgery).

An endpoint URL must be ``https`` and every address its host resolves to must be public.
It is checked when the endpoint is saved, and again at each delivery, where the request is
sent to the very address that was checked (the URL's host stays in the ``Host`` header and in
TLS SNI and certificate checks), so a DNS answer that changes between the check and the
connection cannot lead elsewhere. ``GOODWILL_WEBHOOK_ALLOW_PRIVATE=true`` allows ``http`` and
private or loopback addresses, for development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; the message says why."""


def check_url_shape(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The host and port of a URL that may be a webhook endpoint, or :class:`Refused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"is not a valid URL ({exc})") from None
    allowed = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed:
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
    return found


async def checked_addresses(url: str, *, allow_private: bool) -> list[IPAddress]:
    """The addresses of the URL's host, all public (unless private addresses are allowed)."""
    host, port = check_url_shape(url, allow_private=allow_private)
    addresses = await resolve(host, port)
    if not allow_private:
        private = [str(a) for a in addresses if not is_public(a)]
        if private:
            raise Refused(
                f"host {host!r} resolves to a non-public address ({', '.join(private)}); "
                "webhooks may only call public addresses"
            )
    return addresses


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks each request's host and connects to the checked address.

    Resolutions are cached for ``ttl`` seconds. With ``allow_private`` requests pass through.
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, allow_private: bool, ttl: float = 30.0
    ) -> None:
        self.inner = inner
        self.allow_private = allow_private
        self.ttl = ttl
        self._cache: dict[tuple[str, int], tuple[float, IPAddress]] = {}

    async def _address(self, url: str, host: str, port: int) -> IPAddress:
        now = time.monotonic()
        cached = self._cache.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        address = (await checked_addresses(url, allow_private=False))[0]
        self._cache[(host, port)] = (now + self.ttl, address)
        return address

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        host, port = check_url_shape(url, allow_private=self.allow_private)
        if self.allow_private:
            return await self.inner.handle_async_request(request)
        address = await self._address(url, host, port)
        ip_host = f"[{address}]" if address.version == 6 else str(address)
        request.url = request.url.copy_with(host=ip_host)
        request.headers["host"] = host if port == 443 else f"{host}:{port}"
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
