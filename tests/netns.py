"""Replicas as separate hosts: one Linux network namespace per replica, joined to this host
by a veth pair (``ip netns``, ``ip link add … type veth``). Needs root (CAP_NET_ADMIN).

Inside a namespace, 127.0.0.1 is the namespace's own loopback. So that a replica reaches the
database, Redis, the fake platforms and the remote engine at the very URLs it would use on
one host, each namespace runs a small TCP relay (this module's ``__main__``) that listens on
its 127.0.0.1 at those ports and forwards over the veth link to this host, where a second
relay (in the suite's process) listens on the link's address and forwards to 127.0.0.1.
Every byte between a replica and everything else crosses a network link.

    ip netns exec kefu-… python -m tests.netns HOST_IP PORT [PORT …]   # the in-namespace relay
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBNET = "10.231"  # 10.231.<n>.1 on this host, 10.231.<n>.2 in namespace n


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if sys.platform != "linux" or shutil.which("ip") is None:
        return "needs Linux with iproute2 (the `ip` command)"
    if os.geteuid() != 0:
        return f"needs root for `ip netns add` (running as uid {os.geteuid()})"
    probe = f"kefu-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


async def _ip(*args: str, check: bool = True) -> None:
    process = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if check and process.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {stderr.decode().strip()}")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # the other side went away (a killed replica): close this side too
    finally:
        writer.close()


async def relay(listen_host: str, port: int, target_host: str) -> asyncio.Server:
    """Forward every connection to ``listen_host:port`` to ``target_host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(handle, listen_host, port, reuse_address=True)


@dataclass
class Namespace:
    """One namespace (a replica's "host") and its link to this host."""

    name: str
    host_ip: str
    ns_ip: str
    relay: asyncio.subprocess.Process | None = None
    servers: list[asyncio.Server] = field(default_factory=list)

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


class Hosts:
    """``count`` namespaces, each with relays for ``ports`` (see the module docstring)."""

    def __init__(self, count: int, ports: list[int]) -> None:
        tag = os.getpid() % 10_000
        self.ports = sorted(set(ports))
        self.namespaces = [
            Namespace(f"kefu-{tag}-{n}", f"{SUBNET}.{n + 1}.1", f"{SUBNET}.{n + 1}.2")
            for n in range(count)
        ]
        self._links = [f"kf{tag}x{n}" for n in range(count)]

    async def __aenter__(self) -> Hosts:
        try:
            for ns, link in zip(self.namespaces, self._links, strict=True):
                await self._create(ns, link)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _create(self, ns: Namespace, link: str) -> None:
        await _ip("netns", "add", ns.name)
        await _ip("link", "add", link, "type", "veth", "peer", "name", link + "p")
        await _ip("link", "set", link + "p", "netns", ns.name)
        await _ip("addr", "add", f"{ns.host_ip}/24", "dev", link)
        await _ip("link", "set", link, "up")
        inside = ("netns", "exec", ns.name, "ip")
        await _ip(*inside, "addr", "add", f"{ns.ns_ip}/24", "dev", link + "p")
        await _ip(*inside, "link", "set", link + "p", "up")
        await _ip(*inside, "link", "set", "lo", "up")
        ns.servers = [await relay(ns.host_ip, port, "127.0.0.1") for port in self.ports]
        argv = ns.command(sys.executable, "-m", "tests.netns", ns.host_ip,
                          *map(str, self.ports))  # fmt: skip
        ns.relay = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert ns.relay.stdout is not None
        line = await asyncio.wait_for(ns.relay.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"relay in {ns.name} did not start: {line!r}")

    async def __aexit__(self, *exc: object) -> None:
        for ns, link in zip(self.namespaces, self._links, strict=True):
            if ns.relay is not None and ns.relay.returncode is None:
                ns.relay.kill()
                await ns.relay.wait()
            for server in ns.servers:
                server.close()
            await _ip("link", "del", link, check=False)
            await _ip("netns", "del", ns.name, check=False)


async def _serve_inside(host_ip: str, ports: list[int]) -> None:
    servers = [await relay("127.0.0.1", port, host_ip) for port in ports]
    print("ready", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(_serve_inside(sys.argv[1], [int(p) for p in sys.argv[2:]]))
