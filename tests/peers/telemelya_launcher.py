"""Starts telemelya (a third-party mock Telegram Bot API) on 127.0.0.1, port 0.

Runs with the peer virtualenv's Python (``.venv-peers/telegram``), never kefu's: it imports
nothing of kefu. telemelya keeps its state in Redis and its media in MinIO; MinIO is stood in
for by moto's S3 server, also on port 0. Prints one JSON line, ``{"port": N, "s3_port": M}``,
once both listen, then serves until terminated.

Usage: python telemelya_launcher.py REDIS_URL
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys


def start_s3() -> int:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return int(server._server.server_port)


async def serve(redis_url: str) -> None:
    s3_port = start_s3()
    # telemelya reads its settings from the environment when first imported.
    os.environ.update(
        REDIS_URL=redis_url,
        MINIO_ENDPOINT=f"127.0.0.1:{s3_port}",
        MINIO_ACCESS_KEY="telemelya",
        MINIO_SECRET_KEY="telemelya",
        MINIO_BUCKET="telemelya-media",
        STRICT_EDIT="true",
    )
    import uvicorn
    from telemelya.server.app import app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit("telemelya stopped while starting")
        await asyncio.sleep(0.05)
    print(json.dumps({"port": sock.getsockname()[1], "s3_port": s3_port}), flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
