"""Rated answers as bench.eval cases: expectations per rating, comments, one file per day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from bench.eval.cases import load_cases
from core.feedback.cases import answer_facts, case_files, to_case
from core.model.feedback import AnswerDecision, RatedAnswer
from core.model.turn import ConversationKey, HistoryItem, ImagePart, Role, Sender, TextPart, Turn
from tests.conftest import png_bytes

DAY = date(2026, 11, 20)


def rated(
    turn_id: int, answer: str, ups: tuple[str, ...] = ("alice",), downs: tuple[str, ...] = (),
    day: date = DAY, image: bool = False,
) -> RatedAnswer:  # fmt: skip
    parts: tuple = (TextPart("how much is the Oxford shirt?"),)
    if image:
        parts = (ImagePart.from_normalised(png_bytes(), "image/png", 64, 48), *parts)
    question = Turn(ConversationKey("slack", "D1", "1.1"), Sender("U1", "alice", Role.STAFF),
                    "D1:1.1", parts)  # fmt: skip
    history = (HistoryItem(Role.STAFF, "hello"), HistoryItem(Role.BOT, "Hi, how can I help?"))
    decision = AnswerDecision("answer", 0.83, ("grounded",))
    return RatedAnswer(turn_id, question, answer, decision, history, ups, downs, day)


def test_facts_are_the_checkable_claims() -> None:
    assert answer_facts("It costs ¥199.00, order SO20261102-0042 ships 2026-11-21.") == (
        "¥199.00", "2026-11-21", "SO20261102-0042",
    )  # fmt: skip
    assert answer_facts("Hello there!") == ()


def test_up_expects_the_facts_and_down_must_go_to_a_person() -> None:
    good = to_case(rated(7, "It costs ¥199.00."))
    assert good.case is not None and good.case["expect_facts"] == ["¥199.00"]
    assert good.case["id"] == "feedback-7" and good.case["platform"] == "slack"
    assert good.case["history"][1] == {"role": "bot", "text": "Hi, how can I help?"}
    bad = to_case(rated(8, "It costs ¥99.00.", ups=(), downs=("bob",)))
    assert bad.case is not None and bad.case["must_handoff"] is True
    assert bad.case["forbid"] == ["¥99.00"] and "expect_facts" not in bad.case
    assert to_case(rated(9, "Hello!")).skipped == "the approved answer states no checkable fact"
    assert to_case(rated(10, "¥1", ups=("a",), downs=("b",))).skipped.startswith("the raters")


def test_files_are_per_day_and_bench_eval_reads_them(tmp_path: Path) -> None:
    files = case_files([
        rated(1, "It costs ¥199.00."), rated(2, "Hello!"),
        rated(3, "It is ¥5.00.", day=date(2026, 11, 21)),
    ])  # fmt: skip
    assert [(f.day, len(f.cases), len(f.skipped)) for f in files] == [
        (DAY, 1, 1), (date(2026, 11, 21), 1, 0),
    ]  # fmt: skip
    text = files[0].render()
    assert "# answer: It costs ¥199.00." in text and "# not a case:" in text
    assert yaml.safe_load(text)["date"] == DAY
    path = tmp_path / "cases.yaml"
    path.write_text(text, encoding="utf-8")
    (case,) = load_cases(path).cases
    assert case.id == "feedback-1" and case.expect_facts == ("¥199.00",)


def test_a_photo_question_names_its_image() -> None:
    item = to_case(rated(4, "It costs ¥199.00.", image=True))
    assert item.image_name == "feedback-4.png" and item.case is not None
    assert item.case["image"] == "feedback-4.png"
