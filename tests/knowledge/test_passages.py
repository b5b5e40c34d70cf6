"""Which FAQ or policy passages are quoted: clear, dominant, typed (how long / how much /
when) and two sections of one policy; never a passage without the kind of answer asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.knowledge.base import KnowledgeBase
from core.knowledge.documents import Document
from core.knowledge.passages import AnswerKind, QuoteRule, asked_kind, choose_passages, states
from core.knowledge.retrieval import Hit
from core.knowledge.values import Localized
from core.texts import Language

POLICY = """# Cycling shop policies · 骑行店政策

## Parcel delivery at home · 国内包裹配送

Parcel delivery inside the country takes 1-3 days; bicycles leave our workshop within 2 working days.

国内包裹配送1-3天送达，整车2个工作日内出库。

## Parcel delivery abroad · 海外包裹配送

Parcel delivery abroad takes 6-10 days; complete bicycles cannot be sent abroad.

海外包裹配送6-10天送达，整车无法寄往海外。

## Sending back a bicycle · 退回整车

A bicycle that has not been ridden may be sent back within 14 days of arrival.

未骑行过的整车，到货后14天内可以退回。

## Things we never take back · 不退的商品

Inner tubes, saddles that were fitted and worn brake pads are never taken back.

内胎、已安装的车座和磨损的刹车片不予退回。
"""
FAQ = """faq:
  - id: saddle-height
    question: {zh: 车座高度怎么调？, en: "How do I set the saddle height?"}
    answer: {zh: 站在车旁，车座与髋骨同高即可。, en: "Stand next to the bike and set the saddle level with your hip bone."}
  - id: bell
    question: {zh: 送车铃吗？, en: "Is a bell included?"}
    answer: {zh: 每辆整车都送一个车铃，价值¥25。, en: "Every bicycle comes with a bell worth ¥25."}
"""
RULE = QuoteRule(frozenset({"faq", "policy"}))


@pytest.fixture
def cycling(mini_folder: Callable[..., Path]) -> KnowledgeBase:
    folder = mini_folder(policies__cycling_md=POLICY, policies__returns_md=None, faq_yaml=FAQ)
    return KnowledgeBase.load(folder)


def _quoted(base: KnowledgeBase, question: str) -> list[str]:
    hits = base.retriever.search(question, 4)
    language: Language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in question) else "en"
    return [h.document.source for h in choose_passages(hits, question, RULE, language)]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("how many days until it reaches me", AnswerKind.DURATION),
        ("寄过去要几天", AnswerKind.DURATION),
        ("what's the fee for sending it abroad", AnswerKind.MONEY),
        ("寄海外收费吗", AnswerKind.MONEY),
        ("by what date do I have to decide", AnswerKind.WHEN),
        ("截止到哪天", AnswerKind.WHEN),
        ("is the bell silver", None),
        ("车铃是银色的吗", None),
    ],
)
def test_the_kind_of_answer_asked(question: str, kind: AnswerKind | None) -> None:
    assert asked_kind(question) == kind


def test_what_states_each_kind_of_answer() -> None:
    assert states("within 14 days of arrival", AnswerKind.DURATION)
    assert states("到货后14天内", AnswerKind.DURATION)
    assert states("worth ¥25", AnswerKind.MONEY) and states("每单30元", AnswerKind.MONEY)
    assert states("opens 2026-03-01", AnswerKind.WHEN) and states("3个工作日", AnswerKind.WHEN)
    assert not states("saddles that were fitted are never taken back", AnswerKind.DURATION)
    assert not states("不予退回", AnswerKind.MONEY)
    assert states("anything at all", None)


def test_a_clear_window_is_quoted_in_either_language(cycling: KnowledgeBase) -> None:
    question = "how many days after arrival can a bicycle that has not been ridden be sent back"
    assert _quoted(cycling, question) == ["policy:cycling#sending-back-a-bicycle"]
    assert _quoted(cycling, "整车到货后几天内可以退回") == ["policy:cycling#sending-back-a-bicycle"]


def test_a_dominant_faq_is_quoted_in_the_customers_own_words(cycling: KnowledgeBase) -> None:
    assert _quoted(cycling, "does the bicycle come with a bell or is it extra") == ["faq:bell"]
    assert _quoted(cycling, "买车要另外买铃铛吗，车铃送不送") == ["faq:bell"]


def test_two_close_sections_of_one_policy_are_quoted_together(cycling: KnowledgeBase) -> None:
    quoted = _quoted(cycling, "How many days for parcel delivery?")
    assert sorted(quoted) == [
        "policy:cycling#parcel-delivery-abroad",
        "policy:cycling#parcel-delivery-at-home",
    ]


def test_nothing_is_quoted_for_an_unrelated_question(cycling: KnowledgeBase) -> None:
    assert _quoted(cycling, "Do you repair electric scooters?") == []
    assert _quoted(cycling, "你们修电动滑板车吗") == []


def _hit(
    source: str, kind: str, text: str, score: float, coverage: float, missing: str = ""
) -> Hit:
    words = Localized(text, text)
    return Hit(
        Document(source, kind, words, words, text), score, coverage, frozenset(missing.split())
    )


def test_a_dominant_passage_without_the_asked_kind_is_not_quoted() -> None:
    hits = [
        _hit("faq:a", "faq", "Gift wrapping is available at checkout.", 12.0, 0.5),
        _hit("faq:b", "faq", "We accept cards.", 3.0, 0.2),
    ]
    assert choose_passages(hits, "how long does gift wrapping take", RULE, "en") == ()
    assert choose_passages(hits, "can you wrap it", RULE, "en") == (hits[0],)


def test_a_product_on_top_is_not_quoted_and_kinds_can_be_switched_off() -> None:
    hits = [
        _hit("catalog:X", "product", "A bicycle, 14 days trial.", 20.0, 0.9),
        _hit("faq:a", "faq", "Trial for 14 days.", 3.0, 0.5),
    ]
    assert choose_passages(hits, "is there a trial", RULE, "en") == ()
    faq_hits = hits[1:]
    assert choose_passages(faq_hits, "is there a trial", QuoteRule(frozenset()), "en") == ()


def test_of_two_close_relevant_passages_the_one_stating_the_asked_kind_is_quoted() -> None:
    exclusions = _hit("policy:r#never", "policy", "Worn brake pads are never taken back.", 6.5, 1.0)
    window = _hit("policy:s#window", "policy", "Send it back within 14 days.", 5.5, 1.0)
    other = _hit("faq:x", "faq", "Bells are included.", 2.0, 0.3)
    hits = [exclusions, window, other]
    assert choose_passages(hits, "how long can I take to send it back", RULE, "en") == (window,)
    assert choose_passages(hits, "退回有多长时间", RULE, "zh") == (window,)
    # A yes/no question names no kind: neither is clearly the answer.
    assert choose_passages(hits, "can I send it back", RULE, "en") == ()


def test_of_two_sections_only_the_one_stating_the_asked_kind_is_quoted() -> None:
    window = _hit("policy:r#window", "policy", "Send it back within 14 days.", 6.0, 1.0)
    never = _hit("policy:r#never", "policy", "Worn brake pads are never taken back.", 5.5, 1.0)
    hits = [window, never, _hit("faq:x", "faq", "Bells are included.", 1.0, 0.3)]
    assert choose_passages(hits, "until when can I send it back", RULE, "en") == (window,)
    assert choose_passages(hits, "what can I send back", RULE, "en") == (window, never)


def test_a_typed_question_about_a_product_on_top_quotes_no_passage() -> None:
    hits = [
        _hit("catalog:LAMP", "product", "Camping lantern.", 15.0, 0.6),
        _hit("faq:keep", "faq", "Unopened items keep for 12 months.", 9.0, 1.0),
    ]
    assert choose_passages(hits, "how long does the lantern last", RULE, "en") == ()
    assert choose_passages(hits, "露营灯能用多久", RULE, "zh") == ()


def test_a_dominant_passage_lacking_a_word_the_shop_uses_elsewhere_is_not_quoted() -> None:
    # "Do you rent bicycles?" against a FAQ about buying one: "rent" is in another policy.
    buying = _hit(
        "faq:buy", "faq", "Bicycles are sold with a free first service.", 12.0, 0.6, "rent"
    )
    hits = [buying, _hit("faq:x", "faq", "Bells are included.", 2.0, 0.2)]
    assert choose_passages(hits, "do you rent bicycles", RULE, "en") == ()
    own_words = _hit("faq:buy", "faq", "Bicycles are sold with a free first service.", 12.0, 0.6)
    assert choose_passages([own_words, hits[1]], "买车送保养吗", RULE, "zh") == (own_words,)


def test_missing_words_are_the_shops_own_topic_words(cycling: KnowledgeBase) -> None:
    hits = {h.document.source: h for h in cycling.retriever.search("can I rent a bell abroad", 6)}
    bell = hits["faq:bell"]
    assert "abroad" in bell.missing  # the delivery policy says "abroad"
    assert "rent" not in bell.missing  # no document says "rent": the customer's own word


def _policy_quoted(name: str, question: str) -> list[str]:
    from core.knowledge.passages import policy_passage
    from tests.knowledge.shops import shop

    retriever = shop(name).retriever
    hits = retriever.search(question, 4, kinds=frozenset({"faq", "policy"}), topic_only=True)
    return [h.document.source for h in policy_passage(hits, question, RULE, "en")]


@pytest.mark.parametrize(
    ("question", "quoted"),
    [
        # The product and "I ordered" are context; what is asked is the returns policy.
        ("the leash I ordered is unopened, can I return it?", ["policy:returns#unopened-items"]),
        ("how much is the leash", []),  # not a policy question
        ("can I return it if my dog chewed it", []),  # nothing covers it clearly
    ],
)
def test_a_policy_question_about_a_product_quotes_the_policy(
    question: str, quoted: list[str]
) -> None:
    assert _policy_quoted("pets", question) == quoted


def test_topic_only_coverage_leaves_out_product_names_and_purchase_words() -> None:
    from tests.knowledge.shops import shop

    question = "I bought the leash, can I return it unopened?"
    (plain, *_) = shop("pets").retriever.search(question, 1, kinds=frozenset({"policy"}))
    (topical, *_) = shop("pets").retriever.search(
        question, 1, kinds=frozenset({"policy"}), topic_only=True
    )
    assert topical.document.source == plain.document.source
    assert topical.coverage > plain.coverage and "leash" not in topical.missing
