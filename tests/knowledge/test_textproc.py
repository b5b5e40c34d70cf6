"""Chinese and English tokens for retrieval."""

from __future__ import annotations

import pytest

from core.knowledge.textproc import key_terms, normalise, stem, tokenize


def test_chinese_is_segmented_and_bigrammed() -> None:
    tokens = tokenize("退货运费谁出")
    assert "退货" in tokens and "运费" in tokens  # domain words stay whole
    assert "谁" not in key_terms("退货运费谁出")  # question glue is not a topic


def test_glue_bigrams_are_dropped() -> None:
    tokens = tokenize("你们有实体店吗")
    assert "实体店" in tokens
    assert not any(t in tokens for t in ("们有", "店吗"))


def test_english_is_lowercased_and_stemmed() -> None:
    assert tokenize("How much are the Windbreaker Jackets?") == ["windbreaker", "jacket"]
    assert stem("deliveries") == "delivery"
    assert stem("dress") == "dress"  # not "dres"
    assert stem("3002") == "3002"


def test_skus_stay_whole_and_split() -> None:
    tokens = tokenize("JK-3002 price")
    assert {"jk-3002", "jk", "3002", "pric"} <= set(tokens)


@pytest.mark.parametrize(
    "forms",
    [
        ("change", "changed", "changing", "changes"),
        ("exchange", "exchanged", "exchanging"),
        ("ship", "shipped", "shipping", "ships"),
        ("store", "stored", "storing"),
        ("arrive", "arrived", "arriving"),
        ("stop", "stopped", "stopping"),
    ],
)
def test_base_and_inflected_forms_meet(forms: tuple[str, ...]) -> None:
    assert len({stem(word) for word in forms}) == 1, [stem(word) for word in forms]


def test_own_endings_stay() -> None:
    assert [stem(w) for w in ("fill", "filled", "press", "free", "size")] == [
        "fill",
        "fill",
        "press",
        "free",
        "size",
    ]


def test_question_phrases_are_not_topics() -> None:
    assert "long" not in tokenize("How long does delivery take?")
    assert "long" in tokenize("Striped long-sleeve tee")


def test_numbers_are_not_key_terms() -> None:
    assert key_terms("跑鞋7折") == ["跑鞋", "折"] or "7" not in key_terms("跑鞋7折")


def test_full_width_is_folded() -> None:
    assert normalise("ＡＢＣ：１２") == "abc:12"


def test_contractions_with_either_apostrophe_leave_the_word() -> None:
    from core.knowledge.textproc import tokenize

    assert tokenize("What's the rating?") == ["rating"]
    assert tokenize("What’s the tent’s weight") == ["tent", "weight"]
    assert "don't" not in tokenize("don't you sell tents")  # a stop word, whole


def test_ing_and_ed_keep_short_stems_whole() -> None:
    from core.knowledge.textproc import stem

    assert stem("rating") == "rating" and stem("rated") == "rated"
    assert stem("charging") == "charg" and stem("boxes") == "box" and stem("bags") == "bag"


def test_everyday_phrasings_read_as_the_shop_word() -> None:
    assert "return" in tokenize("could I post them back to you")
    assert "refund" in key_terms("I want my money back")
    assert "exchang" in tokenize("can I swap the blue one for red")  # as "exchanged" is
    assert "unopen" in tokenize("it was never opened") and "open" not in tokenize("never opened")
    assert tokenize("还没有打开过的") == tokenize("还未拆封过的")
    assert "退货" in tokenize("寄回来要运费吗")
    assert "港澳" in tokenize("发澳门多少钱") and "港澳" in tokenize("港澳地区运费")


def test_the_same_phrasing_in_the_shops_text_matches_too() -> None:
    # Questions and documents go through the same reading, so either wording matches.
    assert set(tokenize("Items can be sent back within 10 days")) >= {"item", "return"}
    assert tokenize("return") == ["return"]


def test_irregular_verb_forms_read_as_their_verb() -> None:
    assert tokenize("parcels are sent daily") == tokenize("parcels are send daily")
    assert "buy" in tokenize("I bought two") and "sell" in tokenize("sold out")
    assert "配送" in tokenize("能发往广州吗") and "配送" in tokenize("寄到广州")


def test_chat_spellings_are_written_out() -> None:
    from core.knowledge.textproc import normalise

    assert normalise("这款还有木有") == "这款还有没有"
    assert normalise("肿么退货") == "怎么退货"
    assert len(normalise("神马时候发货")) == len("神马时候发货")


def test_words_that_only_compare_are_not_topics() -> None:
    assert tokenize("can I swap it for a different colour") == ["exchang", "colour"]
    assert "other" not in tokenize("do you have other sizes") and "size" in tokenize("other sizes")


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("hw much 4 the lamp", "how much for the lamp"),
        ("r u open rn?", "are you open right now?"),
        ("4 cups of tea", "4 cups of tea"),  # a count stays a count
        ("u盘 thx", "u盘 thanks"),
    ],
)
def test_english_chat_spellings_are_written_out(text: str, normal: str) -> None:
    assert normalise(text) == normal


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("the lamp is still sealed", "unopened"),
        ("it's still in its packaging", "unopened"),
        ("the boots are unworn", "unused"),
        ("还没用过", "未使用"),
    ],
)
def test_everyday_phrasings_of_unopened_and_unused(text: str, word: str) -> None:
    from core.knowledge.textproc import canonical

    assert word in canonical(normalise(text))


@pytest.mark.parametrize(("text", "word"), [("拆开用了一点", "拆封"), ("还没拆开", "未拆封")])
def test_opened_is_written_as_the_shops_word(text: str, word: str) -> None:
    from core.knowledge.textproc import canonical

    written = canonical(normalise(text))
    assert word in written and (word == "未拆封" or "未拆封" not in written)
