"""Fetch a user-supplied image URL without letting it reach anything internal (SSRF guard).

A URL that a customer or a third-party platform hands us must never make kefu talk to
its own host, the private network or a cloud metadata service. The guard:

* accepts only ``http``/``https`` URLs without credentials;
* resolves every host through :class:`GuardedResolver`, which refuses the whole lookup
  when ANY address is loopback, private (RFC 1918 / ULA), link-local (incl.
  169.254.169.254), CGNAT, multicast, unspecified, reserved or otherwise not global,
  including IPv4 embedded in IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64, Teredo);
* connects to exactly the addresses it checked: aiohttp's connector takes the resolver's
  answer, and the DNS cache is off, so a rebinding answer on a later lookup is checked too;
* checks IP-literal hosts itself (aiohttp does not resolve them);
* follows at most ``max_redirects`` redirects by hand, re-checking every hop;
* streams the body with a size cap, under one total timeout, and insists on ``image/*``.

Every refusal or failure is a :class:`core.errors.FetchError` with a clear message.
Tests may only talk to 127.0.0.1, so the policy is injectable: ``allow_networks`` lists
networks exempt from the block list (empty by default, so loopback is refused).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from core.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What the guarded fetcher may fetch.

    Attributes:
        max_bytes: Largest body accepted; larger bodies are cut off while streaming.
        timeout_s: Total time for the whole fetch, redirects included.
        max_redirects: Most redirects followed (each hop is re-checked).
        allowed_schemes: URL schemes accepted.
        content_type_prefix: Required prefix of the response ``Content-Type``.
        allow_networks: Networks exempt from the block list. Empty in production; tests
            pass ``("127.0.0.1/32",)`` to fetch from a local fake server.
    """

    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 3
    allowed_schemes: frozenset[str] = frozenset({"http", "https"})
    content_type_prefix: str = "image/"
    allow_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def allowing(cls, *networks: str, **kwargs: object) -> FetchPolicy:
        """Build a policy that exempts ``networks`` (CIDR strings) from the block list."""
        parsed = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        return cls(allow_networks=parsed, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FetchedResource:
    """A fetched body.

    Attributes:
        data: The body bytes (at most ``policy.max_bytes``).
        content_type: The response media type, lower-cased, without parameters.
        url: The final URL after redirects.
    """

    data: bytes
    content_type: str
    url: str


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for mapped/compatible/6to4/NAT64/Teredo forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _block_reason(address: IPAddress) -> str | None:
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "carrier-grade NAT"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


def refusal_reason(address: IPAddress, policy: FetchPolicy) -> str | None:
    """Why ``address`` must not be contacted under ``policy``, or None when it may be.

    IPv4 embedded in IPv6 (``::ffff:10.0.0.1``, 6to4, NAT64, Teredo) is judged by the IPv4
    address it carries, so a mapped loopback address is refused like loopback itself.
    """
    if any(address in net for net in policy.allow_networks if net.version == address.version):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            inner_reason = refusal_reason(inner, policy)
            if inner_reason is not None:
                return f"{inner_reason} (IPv4 {inner} embedded in IPv6)"
            return None
    return _block_reason(address)


def check_address(host: str, address: str, policy: FetchPolicy) -> None:
    """Raise FetchError if ``address`` (an IP resolved for ``host``) is refused."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError as exc:
        raise FetchError(f"host {host!r} resolved to an unparseable address {address!r}") from exc
    reason = refusal_reason(parsed, policy)
    if reason is not None:
        raise FetchError(f"refusing to fetch from {host!r}: address {parsed} is {reason}")


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` and refuses the lookup if any address is not allowed.

    Refusing the whole answer (rather than filtering it) keeps a mixed public/private
    answer from being used at all.
    """

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            results = await self._inner.resolve(host, port, family)
        except OSError as exc:
            raise FetchError(f"cannot resolve host {host!r}: {exc}") from exc
        if not results:
            raise FetchError(f"host {host!r} has no addresses")
        for result in results:
            check_address(host, result["host"], self._policy)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _literal_ip(host: str) -> str | None:
    """The host itself when it is an IP literal (aiohttp skips the resolver for those)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host.replace(".", "").isdigit() or host.lower().startswith("0x"):
        # 2130706433, 127.1, 0x7f.1: legacy numeric forms that libc maps onto IPs.
        raise FetchError(f"refusing non-canonical numeric host {host!r}")
    return None


class SafeFetcher:
    """Fetches URLs under a :class:`FetchPolicy`. One instance per process; close it.

    Args:
        policy: Limits and the network allowlist.
        resolver: Inner DNS resolver (injectable for tests); wrapped by the guard.
    """

    def __init__(
        self, policy: FetchPolicy | None = None, *, resolver: AbstractResolver | None = None
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._inner_resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.policy, self._inner_resolver),
                use_dns_cache=False,  # every connection re-resolves and re-checks (no rebinding)
            )
            # trust_env=False: no HTTP(S)_PROXY, whose own address would bypass the guard.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check_url(self, url: str | URL) -> URL:
        """Validate a URL's scheme, credentials and (for IP literals) address.

        Raises:
            FetchError: the URL is malformed or refused.
        """
        try:
            parsed = URL(url) if isinstance(url, str) else url
        except (ValueError, TypeError) as exc:
            raise FetchError(f"malformed URL: {exc}") from exc
        if parsed.scheme not in self.policy.allowed_schemes:
            raise FetchError(f"refusing URL scheme {parsed.scheme!r}; only http(s) is allowed")
        if not parsed.host:
            raise FetchError("URL has no host")
        if parsed.user is not None or parsed.password is not None:
            raise FetchError("refusing URL with credentials")
        literal = _literal_ip(parsed.host)
        if literal is not None:
            check_address(parsed.host, literal, self.policy)
        return parsed

    async def fetch(self, url: str) -> FetchedResource:
        """Fetch ``url`` under the policy.

        Returns:
            The body, its media type and the final URL.

        Raises:
            FetchError: refused address or scheme, too many redirects, a non-2xx status,
                a non-image content type, an oversized body, a timeout or a network error.
        """
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._follow(self.check_url(url))
        except TimeoutError as exc:
            raise FetchError(f"fetching {url!r} timed out after {self.policy.timeout_s}s") from exc

    async def _follow(self, url: URL) -> FetchedResource:
        for _hop in range(self.policy.max_redirects + 1):
            try:
                async with self._client().get(url, allow_redirects=False) as response:
                    if response.status not in _REDIRECT_STATUSES:
                        return await self._read(url, response)
                    url = self._next_hop(url, response)
            except (aiohttp.ClientError, ValueError) as exc:
                # The guard's own FetchError is not a ClientError and propagates as is.
                raise FetchError(f"fetching {url!r} failed: {exc}") from exc
        raise FetchError(f"too many redirects (more than {self.policy.max_redirects})")

    def _next_hop(self, url: URL, response: aiohttp.ClientResponse) -> URL:
        location = response.headers.get("Location")
        if not location:
            raise FetchError(f"redirect {response.status} without a Location header")
        try:
            target = url.join(URL(location))
        except ValueError as exc:
            raise FetchError(f"malformed redirect Location {location!r}") from exc
        return self.check_url(target)

    async def _read(self, url: URL, response: aiohttp.ClientResponse) -> FetchedResource:
        if not 200 <= response.status < 300:
            raise FetchError(f"{url.host} answered HTTP {response.status}")
        content_type = response.content_type.lower()
        if not content_type.startswith(self.policy.content_type_prefix):
            raise FetchError(
                f"{url.host} sent {content_type or 'no content type'}, "
                f"not {self.policy.content_type_prefix}*"
            )
        limit = self.policy.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise FetchError(f"body is {response.content_length} bytes; the limit is {limit}")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            body.extend(chunk)
            if len(body) > limit:
                raise FetchError(f"body exceeds the limit of {limit} bytes")
        return FetchedResource(bytes(body), content_type, str(url))
