"""Shared fixtures: store URLs for SQLite and the local PostgreSQL, sample turns and images."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from core.model.turn import (
    Command,
    ContentProblem,
    ConversationKey,
    ImagePart,
    Role,
    Sender,
    TextPart,
    Turn,
)
from core.store.store import Store

PG_ADMIN_DSN = os.environ.get("KEFU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def png_bytes(
    size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def make_turn(
    text: str = "hello",
    *,
    chat: str = "c1",
    message_id: str | None = None,
    platform: str = "test",
    images: tuple[ImagePart, ...] = (),
    role: Role = Role.CUSTOMER,
    command: Command | None = None,
    command_arg: str = "",
    problem: ContentProblem | None = None,
) -> Turn:
    parts = (*images, TextPart(text)) if text else images
    return Turn(
        ConversationKey.from_channel(platform, chat),
        Sender("u-" + chat, "User " + chat, role),
        message_id or uuid.uuid4().hex,
        parts,
        command=command,
        command_arg=command_arg,
        problem=problem,
    )


async def _create_pg_database() -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, ImportError, Exception):
        return None
    name = f"kefu_test_{uuid.uuid4().hex[:10]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty store URL on SQLite and on the local PostgreSQL.

    PostgreSQL runs on developer machines and CI; it is required there (CI=true fails if
    it is unreachable) and skipped elsewhere.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
        return
    name = await _create_pg_database()
    if name is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but {PG_ADMIN_DSN} is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    await _drop_pg_database(name)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    yield opened
    await opened.close()
