"""Feedback rows: every click on a thumbs up or down, and the rated answers for the export.

A click is stored once (unique on the platform's click id), with the rated turn and the
id of that turn's decision-log entry, so the export can show what kefu decided and why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from core.errors import StoreConflictError
from core.model.feedback import AnswerDecision, FeedbackEntry, RatedAnswer, Rating, StoreOutcome
from core.model.turn import Role
from core.store.db import as_utc, utcnow
from core.store.history import read_histories
from core.store.schema import decisions, feedback, turns
from core.store.store import Store, read_turns


class FeedbackLog:
    """Feedback in the store.

    Args:
        store: The durable store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, entry: FeedbackEntry) -> StoreOutcome:
        """Store one click; a repeated click (a retried event) is not stored twice."""

        def work(conn: Connection) -> StoreOutcome:
            rated = conn.execute(
                select(turns.c.conversation_id).where(turns.c.id == entry.turn_id)
            ).scalar_one_or_none()
            if rated is None:
                return StoreOutcome.UNKNOWN_TURN
            seen = conn.execute(
                select(feedback.c.id).where(
                    feedback.c.platform == entry.channel,
                    feedback.c.platform_message_id == entry.click_id,
                )
            ).first()
            if seen is not None:
                return StoreOutcome.DUPLICATE
            decision_id = conn.execute(
                select(decisions.c.id)
                .where(decisions.c.turn_id == entry.turn_id)
                .order_by(decisions.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            conn.execute(feedback.insert().values(
                conversation_id=rated, turn_id=entry.turn_id, decision_id=decision_id,
                rating=entry.rating, rater_id=entry.rater.user_id,
                rater_name=entry.rater.display_name, platform=entry.channel,
                platform_message_id=entry.click_id, created_at=utcnow(),
            ))  # fmt: skip
            return StoreOutcome.STORED

        try:
            return await self.store.db.write(work)
        except StoreConflictError:
            return StoreOutcome.DUPLICATE  # the same click, stored concurrently

    async def rated_answers(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        history_rounds: int = 5,
    ) -> list[RatedAnswer]:
        """Every rated answer whose clicks fall in [since, until), oldest question first."""
        return await self.store.db.read(
            lambda conn: _rated_answers(conn, since, until, history_rounds)
        )


def _latest_votes(rows: Sequence[Any]) -> dict[int, dict[str, Rating]]:
    """Per rated turn, each rater's latest rating (a changed mind counts once)."""
    votes: dict[int, dict[str, Rating]] = defaultdict(dict)
    for row in rows:  # in id order: later clicks overwrite earlier ones
        rater = row.rater_name or row.rater_id
        votes[row.turn_id][rater] = Rating(row.rating)
    return votes


def _rated_answers(
    conn: Connection, since: datetime | None, until: datetime | None, rounds: int
) -> list[RatedAnswer]:
    query = select(feedback).order_by(feedback.c.id)
    if since is not None:
        query = query.where(feedback.c.created_at >= since)
    if until is not None:
        query = query.where(feedback.c.created_at < until)
    votes = _latest_votes(conn.execute(query).all())
    if not votes:
        return []
    ids = sorted(votes)
    questions = read_turns(conn, ids)
    rows = {r.id: r for r in conn.execute(_TURN_ROWS, {"ids": ids})}
    answers = _answers(conn, rows)
    made = _decisions(conn, ids)
    present = [i for i in ids if i in questions and i in rows]
    histories = read_histories(conn, [(rows[i].conversation_id, i) for i in present], rounds)
    out: list[RatedAnswer] = []
    for turn_id, history in zip(present, histories, strict=True):
        by_rater = votes[turn_id]
        sent_at = as_utc(rows[turn_id].sent_at) or utcnow()
        out.append(RatedAnswer(
            turn_id, questions[turn_id], answers.get(turn_id, ""), made.get(turn_id),
            tuple(history), tuple(r for r, v in by_rater.items() if v is Rating.UP),
            tuple(r for r, v in by_rater.items() if v is Rating.DOWN), sent_at.date(),
        ))  # fmt: skip
    return out


_TURN_ROWS = select(
    turns.c.id, turns.c.conversation_id, turns.c.platform_message_id, turns.c.sent_at
).where(turns.c.id.in_(bindparam("ids", expanding=True)))


def _answers(conn: Connection, questions: dict[int, Any]) -> dict[int, str]:
    """The bot's answer to each question: its first bot turn replying to the question."""
    conversation_ids = {r.conversation_id for r in questions.values()}
    query = (
        select(turns.c.id, turns.c.conversation_id, turns.c.reply_to, turns.c.text)
        .where(turns.c.conversation_id.in_(conversation_ids), turns.c.role == Role.BOT.value)
        .order_by(turns.c.id)
    )
    first: dict[tuple[int, str], str] = {}
    for row in conn.execute(query):
        if row.reply_to:
            first.setdefault((row.conversation_id, row.reply_to), row.text)
    return {
        turn_id: first.get((r.conversation_id, r.platform_message_id or ""), "")
        for turn_id, r in questions.items()
    }


def _decisions(conn: Connection, turn_ids: list[int]) -> dict[int, AnswerDecision]:
    query = (
        select(decisions.c.turn_id, decisions.c.kind, decisions.c.confidence, decisions.c.reasons)
        .where(decisions.c.turn_id.in_(turn_ids))
        .order_by(decisions.c.id)
    )
    return {
        row.turn_id: AnswerDecision(row.kind, row.confidence, tuple(row.reasons or ()))
        for row in conn.execute(query)
    }
