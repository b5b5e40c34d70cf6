"""FeedbackLog: clicks stored once with their turn and decision; rated answers read back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.answering.answer import Answerer
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.feedback import FeedbackEntry, Rating, StoreOutcome
from core.model.turn import Role, Sender
from core.store.db import utcnow
from core.store.feedback import FeedbackLog
from core.store.schema import decisions, feedback
from core.store.store import Store
from tests.conftest import make_turn
from tests.handoff.helpers import answer_next

ANSWER = "The Oxford shirt costs ¥199.00."


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    yield opened
    await opened.close()


async def answered(store: Store, text: str, chat: str = "D1") -> int:
    """Ask ``text`` in Slack DM ``chat`` and let the stub answer; returns the question's id."""
    brain = PromptBrain()
    engine = StubEngine(lambda _r: ANSWER)
    answerer = Answerer(store, engine, {Role.CUSTOMER: brain, Role.STAFF: brain})
    turn = make_turn(text, chat=chat, platform="slack", role=Role.STAFF)
    await answer_next(store, answerer, turn)
    found = await store._find_inbox("slack", turn.message_id)
    assert found is not None
    return found


def click(turn_id: int, rating: Rating, rater: str, click_id: str) -> FeedbackEntry:
    return FeedbackEntry(turn_id, rating, Sender(rater, rater, Role.STAFF), "slack", click_id)


async def test_a_click_is_stored_once_with_the_decision(store: Store) -> None:
    log = FeedbackLog(store)
    rated = await answered(store, "how much is the Oxford shirt?")
    assert await log.add(click(rated, Rating.UP, "alice", "c1")) is StoreOutcome.STORED
    assert await log.add(click(rated, Rating.UP, "alice", "c1")) is StoreOutcome.DUPLICATE
    assert await log.add(click(9999, Rating.UP, "alice", "c2")) is StoreOutcome.UNKNOWN_TURN
    rows = await store.db.read(lambda conn: conn.execute(select(feedback)).all())
    answer_decision = await store.db.read(
        lambda conn: conn.execute(
            select(decisions.c.id).where(decisions.c.turn_id == rated)
        ).scalar()
    )
    assert [(r.turn_id, r.rating, r.decision_id) for r in rows] == [(rated, "up", answer_decision)]


async def test_rated_answers_have_question_answer_history_and_latest_votes(store: Store) -> None:
    log = FeedbackLog(store)
    await answered(store, "hello")  # earlier in the conversation: history
    rated = await answered(store, "how much is the Oxford shirt?")
    other = await answered(store, "and the jacket?", chat="D2")
    await log.add(click(rated, Rating.DOWN, "alice", "c1"))
    await log.add(click(rated, Rating.UP, "alice", "c2"))  # alice changed her mind
    await log.add(click(rated, Rating.UP, "bob", "c3"))
    await log.add(click(other, Rating.UP, "alice", "c4"))
    await log.add(click(other, Rating.DOWN, "bob", "c5"))
    first, second = await log.rated_answers()
    assert first.turn_id == rated and first.question.text == "how much is the Oxford shirt?"
    assert first.answer == ANSWER
    assert [h.text for h in first.history] == ["hello", ANSWER]
    assert first.decision is not None and first.decision.kind == "answer"
    assert (first.ups, first.downs, first.rating) == (("alice", "bob"), (), Rating.UP)
    assert second.rating is None  # one up, one down: a tie
    assert await log.rated_answers(since=utcnow() + timedelta(minutes=1)) == []


async def test_migration_0007_adds_and_removes_the_feedback_table(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from core.store.db import Database, migration_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    await old.write(lambda conn: command.upgrade(migration_config(conn), "0006"))
    # A database made before feedback existed (0001 builds today's schema, so drop it).
    await old.write(lambda conn: conn.execute(text("DROP TABLE feedback")))
    await old.dispose()
    upgraded = await Store.open(url)  # migrates to head
    tables = await upgraded.db.read(lambda conn: set(inspect(conn).get_table_names()))
    assert "feedback" in tables
    await upgraded.db.write(lambda conn: command.downgrade(migration_config(conn), "0006"))
    tables = await upgraded.db.read(lambda conn: set(inspect(conn).get_table_names()))
    await upgraded.close()
    assert "feedback" not in tables
