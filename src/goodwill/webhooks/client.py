"""The webhook worker's HTTP client: one aiohttp session behind the SSRF guard.

Every request has an explicit time limit (connection to last byte read), follows no redirect,
sends no cookies (the jar is a dummy: endpoints of different tenants may share a host), asks
for no compression, and reads at most :data:`RESPONSE_LIMIT` bytes of the answer. The
connector resolves host names through :class:`~goodwill.webhooks.ssrf.GuardedResolver`, so
each new connection goes to an address that was checked, while ``Host``, TLS SNI and the
certificate check keep the URL's host name.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import NamedTuple

import aiohttp
import certifi
from yarl import URL

from goodwill.webhooks.ssrf import GuardedResolver, Policy, Resolver, resolve

RESPONSE_LIMIT = 2048
# How long checked addresses are reused for new connections (aiohttp's DNS cache).
DNS_TTL_SECONDS = 30


class Reply(NamedTuple):
    """What an endpoint answered: status, the first :data:`RESPONSE_LIMIT` bytes of the body,
    and ``Retry-After`` if present."""

    status: int
    body: bytes
    retry_after: str | None


class WebhookClient:
    """POSTs to webhook endpoints allowed by ``rules``, over at most ``connections``
    keep-alive connections. ``resolver`` and ``ssl_context`` are parameters for tests."""

    def __init__(
        self,
        rules: Policy,
        *,
        timeout: float,
        connections: int = 100,
        resolver: Resolver = resolve,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = GuardedResolver(rules, resolver)
        self.timeout = timeout
        self.connections = connections
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        # URLs that passed the guard's check (which depends only on the URL and the rules),
        # parsed once: the same few endpoints are called over and over.
        self._urls: dict[str, URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop, as aiohttp wants.
        connector = aiohttp.TCPConnector(
            resolver=self.guard,
            limit=self.connections,
            ttl_dns_cache=DNS_TTL_SECONDS,
            ssl=self._ssl or ssl.create_default_context(cafile=certifi.where()),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # The time limit is the one around the whole request in post().
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
        )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """Send ``body``; :class:`~goodwill.webhooks.ssrf.Refused`, ``TimeoutError`` or
        ``aiohttp.ClientError`` when no answer could be had."""
        target = self._urls.get(url)
        if target is None:
            target = self.guard.check(url)
            if len(self._urls) >= 10_000:
                self._urls.clear()
            self._urls[url] = target
        session = self._session or self._open()
        async with (
            asyncio.timeout(self.timeout),
            session.post(target, data=body, headers=headers, allow_redirects=False) as response,
        ):
            received = b""
            while len(received) < RESPONSE_LIMIT:
                chunk = await response.content.read(RESPONSE_LIMIT - len(received))
                if not chunk:
                    break
                received += chunk
            return Reply(response.status, received, response.headers.get("Retry-After"))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
