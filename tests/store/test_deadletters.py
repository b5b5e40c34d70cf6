"""Dead letters are listed and replayed, from the store and from ``main.py deadletters``."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from core.errors import InvalidInputError
from core.store.deadletters import Box, DeadLetters, parse_ref
from core.store.schema import inbox, outbox
from core.store.store import Store
from main import main
from tests.conftest import make_turn
from tests.runtime.test_dispatcher import _answered


async def _one_of_each(store: Store) -> None:
    await _answered(store, "a reply nobody took")
    await store.db.write(lambda c: c.execute(update(outbox).values(status="dead", attempts=5,
                                                                    last_error="410 Gone")))  # fmt: skip
    await store.put(make_turn("poison pill", chat="p"))
    await store.db.write(lambda c: c.execute(
        update(inbox).where(inbox.c.status == "pending")
        .values(status="failed", attempts=3, error="RuntimeError: boom")))  # fmt: skip


async def test_dead_letters_are_listed_and_replayed(store: Store) -> None:
    await _one_of_each(store)
    letters = DeadLetters(store)
    listed = await letters.listed()
    assert {(d.box, d.text, d.error) for d in listed} == {
        (Box.INBOX, "poison pill", "RuntimeError: boom"),
        (Box.OUTBOX, "a reply nobody took", "410 Gone"),
    }
    inbox_ref = next(d.ref for d in listed if d.box is Box.INBOX)
    assert await letters.replay([inbox_ref]) == [inbox_ref]
    assert (await store.counts()).get("inbox.pending") == 1
    assert [d.box for d in await letters.listed()] == [Box.OUTBOX]
    assert await letters.replay(every=True) == [next(d.ref for d in listed if d.box is Box.OUTBOX)]
    assert await letters.listed() == [] and (await store.counts())["outbox.pending"] == 1


def test_references_are_checked() -> None:
    assert parse_ref("outbox:12") == (Box.OUTBOX, 12)
    for bad in ("12", "inbox:", "queue:3", "inbox:x"):
        with pytest.raises(InvalidInputError):
            parse_ref(bad)


async def test_the_cli_lists_and_replays(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'kefu.db'}"
    store = await Store.open(url)
    await _one_of_each(store)
    await store.close()
    monkeypatch.setenv("KEFU_STORE__URL", url)
    import asyncio

    def cli(*argv: str) -> int:
        return main(list(argv))

    assert await asyncio.to_thread(cli, "deadletters", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(d["ref"].split(":")[0] for d in listed) == ["inbox", "outbox"]
    assert await asyncio.to_thread(cli, "deadletters", "replay", "--all") == 0
    assert "replayed 2" in capsys.readouterr().out
    assert await asyncio.to_thread(cli, "deadletters", "replay", "inbox:999") == 1
    assert await asyncio.to_thread(cli, "deadletters", "replay", "nonsense") == 2
