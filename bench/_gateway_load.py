"""The gateway benchmark's load generator: pre-signed requests, raw senders, phases, servers.

See bench/gateway.py for the method.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"kefu-gateway-bench-secret-01234").decode()
SOURCE = "bench"
TICKS = os.sysconf("SC_CLK_TCK")
Timing = tuple[int, float, float]  # status, sent at, answered at (perf_counter seconds)


@dataclass(frozen=True, slots=True)
class Request:
    """One pre-signed request: its parts (for aiohttp) and its bytes on the wire (raw client)."""

    webhook_id: str
    headers: dict[str, str]
    body: bytes
    raw: bytes


# ----------------------------------------------------------------------------- load generator


class _Connection(asyncio.Protocol):
    """Raw client: one keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, float]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        self._waiter.set_result((int(lines[0][9:12]), time.perf_counter()))  # stamped on arrival

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed the connection"))

    async def send(self, request: Request) -> Timing:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.transport.write(request.raw)
        status, answered = await self._waiter
        return status, sent, answered

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _AiohttpSender:
    """aiohttp client: one sender of a shared session (whose pool has one connection each)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def send(self, request: Request) -> Timing:
        sent = time.perf_counter()
        async with self.session.post(self.url, data=request.body, headers=request.headers) as r:
            await r.read()
        return r.status, sent, time.perf_counter()

    def close(self) -> None:
        return None


Sender = _Connection | _AiohttpSender


async def open_senders(
    port: int, count: int, session: aiohttp.ClientSession | None
) -> list[Sender]:
    """``count`` raw connections, opened before the clock starts; or ``count`` aiohttp senders."""
    if session is not None:
        url = f"http://127.0.0.1:{port}/webhooks/{SOURCE}"
        return [_AiohttpSender(session, url) for _ in range(count)]
    loop = asyncio.get_running_loop()
    return [(await loop.create_connection(_Connection, "127.0.0.1", port))[1] for _ in range(count)]


def build_requests(port: int, count: int, conversations: int, tag: str) -> list[Request]:
    """``count`` signed ``POST /webhooks/bench`` text messages spread over conversations."""
    signer, now = Webhook(SECRET), datetime.now(UTC)
    built = []
    for index in range(count):
        webhook_id = f"msg_{tag}_{index}"
        body = json.dumps({"conversation_id": f"c{index % conversations}",
                           "user": {"id": f"u{index % conversations}"},
                           "text": f"where is my order {index}?"})  # fmt: skip
        headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signer.sign(webhook_id, now, body)}  # fmt: skip
        head = f"POST /webhooks/{SOURCE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        built.append(Request(webhook_id, headers, body.encode(), (head + body).encode()))
    return built


def _machine_busy_s() -> float:
    """CPU seconds all processes on the machine have been busy (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS  # minus idle and iowait


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured load phase; CPU figures are seconds used during the phase."""

    server: str
    name: str
    sent: int
    accepted: int
    elapsed_s: float
    latencies_ms: tuple[float, ...]  # sorted
    max_lag_ms: float  # paced phases: how far the senders fell behind their schedule
    server_cpu_s: float
    generator_cpu_s: float
    machine_cpu_s: float
    accepted_ids: tuple[str, ...]

    @property
    def msg_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, q: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")

    def cpu_pct(self, seconds: float) -> float:
        return seconds / self.elapsed_s * 100 if self.elapsed_s else 0.0


async def run_phase(server: Server, name: str, requests: Sequence[Request],
                    senders: Sequence[Sender], rate: float | None) -> Phase:  # fmt: skip
    """Send ``requests`` through ``senders``: paced at ``rate``/s in total, or flat out."""
    loop = asyncio.get_running_loop()
    results: list[tuple[str, int, float, float]] = []
    lags = [0.0]
    start = loop.time() + 0.05

    async def run(index: int, sender: Sender) -> None:
        for position in range(index, len(requests), len(senders)):
            if rate is not None:
                delay = start + position / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                lags.append(-delay * 1000)
            status, sent, answered = await sender.send(requests[position])
            results.append((requests[position].webhook_id, status, sent, answered))

    cpu = (server.cpu_s(), time.process_time(), _machine_busy_s())
    await asyncio.gather(*(run(i, sender) for i, sender in enumerate(senders)))
    used = (server.cpu_s() - cpu[0], time.process_time() - cpu[1], _machine_busy_s() - cpu[2])
    elapsed = max(r[3] for r in results) - min(r[2] for r in results)
    ok = [r for r in results if r[1] == 202]
    latencies = tuple(sorted((r[3] - r[2]) * 1000 for r in results))
    return Phase(server.name, name, len(results), len(ok), elapsed, latencies, max(lags), *used,
                 tuple(r[0] for r in ok))  # fmt: skip


# ----------------------------------------------------------------------------- servers


class Server:
    """A server subprocess that prints ``{"port": N}`` when ready; stopped with SIGTERM."""

    def __init__(self, name: str, module_args: list[str]) -> None:
        self.name, self.args, self.port = name, module_args, 0
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen([sys.executable, "-m", *self.args],
                                        stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} server did not start (exit {self.process.wait()})")
        self.port = int(json.loads(line)["port"])
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the server has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
