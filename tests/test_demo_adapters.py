"""The three-adapter demo (bench/demo_adapters.py): exactly-once across Telegram, Slack and
webhooks in one kefu, and checks that really catch duplicates and losses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.demo_adapters import (
    DemoReport,
    ScriptedMessage,
    StoreCheck,
    check_store,
    main,
    render,
    run_demo,
    tally,
)
from core.store.store import Store
from tests.conftest import make_turn


async def test_thirty_conversations_on_three_platforms_are_answered_exactly_once() -> None:
    report, replies = await run_demo(conversations=30)
    assert report.problems == []
    outcomes = report.tally.outcomes
    messages = len(outcomes)
    assert messages > 30  # conversations have 1–3 messages
    assert report.tally.answered_once == messages
    assert (report.tally.duplicates, report.tally.lost) == (0, 0)
    # The store agrees with the platforms: one delivered reply row per inbox turn.
    assert report.store == StoreCheck(messages, 0, messages, 0, 0, 0)
    # The script really mixed platforms, photos and albums, and repeated deliveries.
    platforms = {o.message.platform for o in outcomes}
    assert platforms == {"telegram", "slack", "webhook"}
    labels = [(o.message.platform, o.message.label) for o in outcomes]
    assert any(p == "telegram" and label.startswith("3 photos") for p, label in labels)
    assert any(p == "slack" and label.startswith("photo:") for p, label in labels)
    assert any(p == "webhook" and label.startswith("2 photos") for p, label in labels)
    assert report.duplicate_deliveries >= 6
    assert report.requests_sent > messages + report.duplicate_deliveries  # albums: 1 POST/photo
    # The replies the fakes show, per conversation, are exactly the scripted ones in order.
    assert sum(len(texts) for texts in replies.values()) == messages
    assert "Echo: tg c6 m0 where is my order [2 image(s)]" in replies["chat 10006"]
    summary = render(report).splitlines()[-1]
    assert (
        summary
        == f"30 conversations, {messages} messages, {messages} answered exactly once, 0 duplicates, 0 lost"
    )


def _scripted(conversation: str, *replies: str) -> list[ScriptedMessage]:
    return [ScriptedMessage("slack", conversation, i, f"m{i}", r) for i, r in enumerate(replies)]


def test_tally_counts_duplicates_losses_strays_and_order() -> None:
    script = _scripted("a", "Echo: 1", "Echo: 2") + _scripted("b", "Echo: 3", "Echo: 4")
    result = tally(
        script,
        {
            "a": ["Echo: 1", "Echo: 1", "Echo: stray"],  # 1 twice, 2 lost, one unasked reply
            "b": ["Echo: 4", "Echo: 3"],  # both once, wrong order
            "c": ["Echo: nobody asked"],
        },
    )
    assert [o.replies for o in result.outcomes] == [2, 0, 1, 1]
    assert (result.answered_once, result.lost) == (2, 1)
    assert result.duplicates == 1 + 2  # the second "Echo: 1" plus two unasked replies
    assert result.out_of_order == ("b",)
    clean = tally(script, {"a": ["Echo: 1", "Echo: 2"], "b": ["Echo: 3", "Echo: 4"]})
    assert (clean.answered_once, clean.duplicates, clean.lost, clean.out_of_order) == (4, 0, 0, ())


def test_an_album_answered_in_parts_is_split_not_lost_and_its_parts_are_not_strays() -> None:
    script = _scripted("a", "Echo: tg m0 [3 image(s)]", "Echo: hi")
    # Photo 3 came after the album was stored: its own turn, its own (text-less) reply.
    parts = ["Echo: tg m0 [2 image(s)]", "Echo:  [1 image(s)]", "Echo: hi"]
    result = tally(script, {"a": parts})
    assert result.split == ("m0",) and result.split_parts == 1
    assert (result.lost, result.duplicates, result.answered_once) == (0, 0, 1)
    # Photos that no reply names stay lost, and the partial reply is a stray.
    short = tally(script, {"a": ["Echo: tg m0 [2 image(s)]", "Echo: hi"]})
    assert (short.split, short.lost, short.duplicates) == ((), 1, 1)


async def test_store_check_sees_a_turn_that_was_never_answered(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    try:
        await store.put(make_turn("hello", message_id="m-1"))
        check = await check_store(store)
    finally:
        await store.close()
    assert check == StoreCheck(1, 1, 0, 1, 0, 0)
    assert check.problems(1) == [
        "inbox not done: 1",
        "turns without exactly one reply: 1",
    ]
    assert check.problems(2)[0] == "1 inbox turns, expected 2"


def test_main_exits_non_zero_when_a_check_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = DemoReport(
        1,
        tally(_scripted("a", "Echo: 1"), {}),
        StoreCheck(1, 0, 0, 1, 0, 0),
        1,
        0,
        0.1,
        ["0 replies to a: 'm0'"],
    )

    async def fake_run(conversations: int) -> tuple[DemoReport, dict[str, list[str]]]:
        return failed, {}

    monkeypatch.setattr("bench.demo_adapters.run_demo", fake_run)
    monkeypatch.setattr("sys.argv", ["demo_adapters", "--conversations", "1"])
    assert main() == 1
    out = capsys.readouterr().out
    assert "1 conversations, 1 messages, 0 answered exactly once, 0 duplicates, 1 lost" in out
    assert "PROBLEM: 0 replies to a: 'm0'" in out
