"""The SSRF guard: what it refuses by default, and that allowed fetches really work.

A real aiohttp server on 127.0.0.1 plays the remote host; the policy's allowlist lets
some tests reach it while others prove loopback and friends are refused by default.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image

from core.errors import FetchError
from core.media.fetch import FetchPolicy, GuardedResolver, SafeFetcher, refusal_reason


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


class FakeOrigin:
    """A recording image host with redirect, oversize, slow and wrong-type endpoints."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.hosts: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/{name}", self.handle)
        self.runner = web.AppRunner(self.app)
        self.port = 0

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(name)
        self.hosts.append(request.host)
        if name == "photo.png":
            return web.Response(body=PNG, content_type="image/png")
        if name.startswith("hop"):  # hop3 -> hop2 -> hop1 -> hop0 -> photo
            left = int(name[3:])
            target = "/photo.png" if left == 0 else f"/hop{left - 1}"
            raise web.HTTPFound(target)
        if name == "to-target":
            raise web.HTTPFound(request.query["to"])
        if name == "page.html":
            return web.Response(text="<html>login</html>", content_type="text/html")
        if name == "huge.png":
            return web.Response(body=b"\x89PNG" + b"0" * 5000, content_type="image/png")
        if name == "stream.png":  # no Content-Length: the cap must hold while streaming
            response = web.StreamResponse(headers={"Content-Type": "image/png"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(10):
                await response.write(b"x" * 1000)
            await response.write_eof()
            return response
        if name == "slow.png":
            await asyncio.sleep(1.0)
            return web.Response(body=PNG, content_type="image/png")
        if name == "missing.png":
            raise web.HTTPNotFound()
        raise web.HTTPNotFound()


@pytest.fixture
async def origin() -> AsyncIterator[FakeOrigin]:
    server = FakeOrigin()
    await server.start()
    yield server
    await server.runner.cleanup()


LOCAL = FetchPolicy.allowing("127.0.0.1/32")


async def _fetch(url: str, policy: FetchPolicy, resolver: AbstractResolver | None = None):
    fetcher = SafeFetcher(policy, resolver=resolver)
    try:
        return await fetcher.fetch(url)
    finally:
        await fetcher.close()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("::ffff:169.254.169.254", "link-local (IPv4 169.254.169.254 embedded in IPv6)"),
        ("::127.0.0.1", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("64:ff9b::a00:1", "private (IPv4 10.0.0.1 embedded in IPv6)"),
    ],
)
def test_refuses_internal_addresses(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), FetchPolicy()) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111"])
def test_allows_public_addresses(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), FetchPolicy()) is None


def test_allowlist_exempts_only_listed_network() -> None:
    assert refusal_reason(ipaddress.ip_address("127.0.0.1"), LOCAL) is None
    assert refusal_reason(ipaddress.ip_address("127.0.0.2"), LOCAL) == "loopback"
    assert refusal_reason(ipaddress.ip_address("10.0.0.1"), LOCAL) == "private"


async def test_fetches_image_when_loopback_is_allowlisted(origin: FakeOrigin) -> None:
    fetched = await _fetch(origin.url("/photo.png"), LOCAL)
    assert fetched.data == PNG
    assert fetched.content_type == "image/png"
    assert origin.hits == ["photo.png"]


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("127.0.0.1", "is loopback"),
        ("[::ffff:127.0.0.1]", "embedded in IPv6"),
        ("10.0.0.7", "is private"),
        ("169.254.169.254", "is link-local"),
        ("[::1]", "is loopback"),
        ("2130706433", "non-canonical numeric host"),
        ("127.1", "non-canonical numeric host"),
    ],
)
async def test_literal_internal_hosts_refused_by_default(
    origin: FakeOrigin, host: str, fragment: str
) -> None:
    with pytest.raises(FetchError, match=fragment):
        await _fetch(f"http://{host}:{origin.port}/photo.png", FetchPolicy())
    assert origin.hits == []  # refused before any connection


async def test_hostname_resolving_to_loopback_refused(origin: FakeOrigin) -> None:
    with pytest.raises(FetchError, match=r"localhost.*loopback"):
        await _fetch(origin.url("/photo.png", host="localhost"), FetchPolicy())
    assert origin.hits == []


async def test_redirect_to_loopback_refused(origin: FakeOrigin) -> None:
    # The origin itself is allowlisted; the hop it redirects to (127.0.0.2) is not.
    target = f"http://127.0.0.2:{origin.port}/photo.png"
    with pytest.raises(FetchError, match=r"127\.0\.0\.2 is loopback"):
        await _fetch(origin.url(f"/to-target?to={target}"), LOCAL)
    assert origin.hits == ["to-target"]


async def test_redirect_to_metadata_service_refused(origin: FakeOrigin) -> None:
    target = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(FetchError, match="link-local"):
        await _fetch(origin.url(f"/to-target?to={target}"), LOCAL)


async def test_redirect_to_other_scheme_refused(origin: FakeOrigin) -> None:
    with pytest.raises(FetchError, match="scheme 'file'"):
        await _fetch(origin.url("/to-target?to=file:///etc/passwd"), LOCAL)


async def test_follows_three_redirects_but_not_four(origin: FakeOrigin) -> None:
    fetched = await _fetch(origin.url("/hop2"), LOCAL)  # hop2, hop1, hop0 -> photo: 3 hops
    assert fetched.data == PNG
    assert fetched.url.endswith("/photo.png")
    with pytest.raises(FetchError, match="too many redirects"):
        await _fetch(origin.url("/hop3"), LOCAL)


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://x/"])
async def test_only_http_schemes(url: str) -> None:
    with pytest.raises(FetchError, match="only http"):
        await _fetch(url, FetchPolicy())


async def test_credentials_in_url_refused() -> None:
    with pytest.raises(FetchError, match="credentials"):
        await _fetch("http://user:pw@example.com/a.png", FetchPolicy())


async def test_non_image_content_type_refused(origin: FakeOrigin) -> None:
    with pytest.raises(FetchError, match="text/html, not image/"):
        await _fetch(origin.url("/page.html"), LOCAL)


async def test_content_length_over_cap_refused(origin: FakeOrigin) -> None:
    policy = FetchPolicy.allowing("127.0.0.1/32", max_bytes=1000)
    with pytest.raises(FetchError, match="limit is 1000"):
        await _fetch(origin.url("/huge.png"), policy)


async def test_streamed_body_over_cap_refused(origin: FakeOrigin) -> None:
    policy = FetchPolicy.allowing("127.0.0.1/32", max_bytes=2500)
    with pytest.raises(FetchError, match="exceeds the limit of 2500"):
        await _fetch(origin.url("/stream.png"), policy)


async def test_total_timeout(origin: FakeOrigin) -> None:
    policy = FetchPolicy.allowing("127.0.0.1/32", timeout_s=0.3)
    with pytest.raises(FetchError, match="timed out"):
        await _fetch(origin.url("/slow.png"), policy)


async def test_http_error_status(origin: FakeOrigin) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        await _fetch(origin.url("/missing.png"), LOCAL)


async def test_unresolvable_host() -> None:
    with pytest.raises(FetchError, match="cannot resolve"):
        await _fetch("http://no-such-host.invalid/a.png", FetchPolicy())


class ScriptedResolver(AbstractResolver):
    """Answers lookups from a script, one answer per call: a stand-in for hostile DNS."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in addresses
        ]

    async def close(self) -> None:
        return None


async def test_connects_to_the_checked_address(origin: FakeOrigin) -> None:
    resolver = ScriptedResolver(["127.0.0.1"])
    fetched = await _fetch(f"http://shop.example:{origin.port}/photo.png", LOCAL, resolver)
    assert fetched.data == PNG
    assert origin.hosts == [f"shop.example:{origin.port}"]  # the name was kept for Host/SNI


async def test_mixed_answer_refused_entirely(origin: FakeOrigin) -> None:
    resolver = ScriptedResolver(["127.0.0.1", "10.0.0.5"])
    with pytest.raises(FetchError, match=r"10\.0\.0\.5 is private"):
        await _fetch(f"http://shop.example:{origin.port}/photo.png", LOCAL, resolver)
    assert origin.hits == []


async def test_dns_rebinding_rechecked_on_every_connection(origin: FakeOrigin) -> None:
    # First lookup: an allowed address. The same name then rebinds to a refused one;
    # the DNS cache is off, so the second connection's lookup is checked again.
    resolver = ScriptedResolver(["127.0.0.1"], ["127.0.0.2"])
    fetcher = SafeFetcher(LOCAL, resolver=resolver)
    try:
        assert (await fetcher.fetch(f"http://shop.example:{origin.port}/photo.png")).data == PNG
        # A fresh connection is needed for a new lookup: close the pooled one.
        await fetcher.close()
        with pytest.raises(FetchError, match=r"127\.0\.0\.2 is loopback"):
            await fetcher.fetch(f"http://shop.example:{origin.port}/photo.png")
    finally:
        await fetcher.close()
    assert resolver.calls == 2
    assert origin.hits == ["photo.png"]


async def test_guarded_resolver_wraps_os_errors() -> None:
    class Failing(ScriptedResolver):
        async def resolve(self, host, port=0, family=socket.AF_INET):  # type: ignore[no-untyped-def]
            raise OSError("SERVFAIL")

    with pytest.raises(FetchError, match="SERVFAIL"):
        await GuardedResolver(FetchPolicy(), Failing()).resolve("x.example", 80)
