"""Incremental detokenisation and stop strings (token choice is tested through the scheduler)."""

from __future__ import annotations

from core.engines._decoding import IncrementalDetokenizer, StopMatcher


def test_detokenizer_never_splits_multibyte_characters(tiny_tokenizer):
    text = "你好，运费是十元。😀 🎉 谢谢"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    partial = [tiny_tokenizer.decode(ids[:n]) for n in range(1, len(ids))]
    assert any(p.endswith("\ufffd") for p in partial), (
        "tokenizer must split a character for this test"
    )
    detokenizer = IncrementalDetokenizer(tiny_tokenizer)
    pieces = [detokenizer.push(i) for i in ids]
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) + detokenizer.flush() == text


def test_stop_matcher_holds_back_possible_starts():
    matcher = StopMatcher(["</end>", "STOP"])
    assert matcher.feed("Hello <") == "Hello "
    assert matcher.feed("/e") == ""
    assert matcher.feed("x world ST") == "</ex world "
    assert matcher.feed("OP and more") == ""
    assert matcher.stopped
    assert matcher.flush() == ""


def test_stop_matcher_releases_held_text_at_the_end():
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("almost ST") == "almost "
    assert matcher.flush() == "ST"
    assert StopMatcher([]).feed("anything") == "anything"


def test_detokenizer_drops_a_character_cut_off_at_the_end(tiny_tokenizer):
    ids = tiny_tokenizer("ok 🚀", add_special_tokens=False)["input_ids"]
    detokenizer = IncrementalDetokenizer(tiny_tokenizer)
    streamed = "".join(detokenizer.push(i) for i in ids[:-1])  # the rocket's last byte never comes
    assert streamed + detokenizer.flush() == "ok "
