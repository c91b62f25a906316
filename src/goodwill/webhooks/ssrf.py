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
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens each new connection to an address checked under ``rules`` (and only to it).

    URLs keep their host name, so connection pooling, TLS SNI and the certificate check all
    use the name; only the TCP connection goes to the checked address. Resolutions are cached
    for ``ttl`` seconds.
    """

    def __init__(self, rules: Policy, resolver: Resolver = resolve, ttl: float = 30.0) -> None:
        self.rules = rules
        self.resolver = resolver
        self.ttl = ttl
        self.inner = httpcore.AnyIOBackend()
        self._cache: dict[tuple[str, int], tuple[float, IPAddress]] = {}

    async def _address(self, host: str, port: int) -> IPAddress:
        now = time.monotonic()
        cached = self._cache.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        address = (await _checked(host, port, self.rules, self.resolver))[0]
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(host, port)] = (now + self.ttl, address)
        return address

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._address(host, port)
        return await self.inner.connect_tcp(
            str(address), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not webhook endpoints")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc)) from exc
        except httpcore.NetworkError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """The webhook client's transport: refuses URLs outside ``rules`` and connects through a
    :class:`GuardedBackend`. Redirects are the client's business (it follows none)."""

    def __init__(
        self,
        rules: Policy,
        *,
        max_connections: int = 100,
        resolver: Resolver = resolve,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.rules = rules
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(rules, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url_shape(str(request.url), self.rules)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except httpcore.ConnectTimeout as exc:
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise httpx.TransportError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
