"""export_feedback: rated answers from the store into cases files (and their photos)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.answering.answer import Answerer
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.feedback.export import export_feedback
from core.media.images import normalise_image
from core.model.feedback import FeedbackEntry, Rating
from core.model.turn import Role, Sender
from core.store.feedback import FeedbackLog
from core.store.store import Store
from tests.conftest import make_turn, png_bytes
from tests.handoff.helpers import answer_next


async def test_export_writes_cases_and_photos(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    try:
        brain = PromptBrain()
        answerer = Answerer(store, StubEngine(lambda _r: "It costs ¥199.00."),
                            {Role.CUSTOMER: brain, Role.STAFF: brain})  # fmt: skip
        photo = normalise_image(png_bytes((80, 60)))
        turn = make_turn("what is this?", chat="D1", platform="slack", role=Role.STAFF,
                         images=(photo,))  # fmt: skip
        await answer_next(store, answerer, turn)
        rated = await store._find_inbox("slack", turn.message_id)
        assert rated is not None
        sender = Sender("U1", "alice", Role.STAFF)
        await FeedbackLog(store).add(FeedbackEntry(rated, Rating.UP, sender, "slack", "c1"))
        out = tmp_path / "eval" / "feedback.yaml"
        (written,) = await export_feedback(store, out)
        assert (written.path, written.cases, written.skipped) == (out, 1, 0)
        assert "expect_facts:\n    - ¥199.00" in out.read_text(encoding="utf-8")
        image = out.parent / "images" / f"feedback-{rated}.png"
        assert image.read_bytes() == photo.data
        before = datetime(2000, 1, 1, tzinfo=UTC)
        assert await export_feedback(store, tmp_path / "old.yaml", until=before) == []
    finally:
        await store.close()


async def test_nothing_to_export_writes_nothing(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    try:
        assert await export_feedback(store, tmp_path / "f.yaml") == []
        assert not (tmp_path / "f.yaml").exists()
    finally:
        await store.close()
