"""Tests for core.answering.confidence: logprob scoring, combining evidence, caps, and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.answering.confidence import (
    CAP_PREFIX,
    NO_LOGPROBS_REASON,
    ConfidenceWeights,
    ScoreCap,
    combine,
    is_content_token,
    scaled,
    score_components,
    score_logprobs,
    with_cap,
    with_component,
)
from core.engines.base import TokenLogprob
from core.errors import InvalidInputError
from core.model.turn import Confidence, ConfidenceComponent


def tokens(*pairs: tuple[str, float]) -> list[TokenLogprob]:
    return [TokenLogprob(token, math.log(p) if p > 0 else -math.inf) for token, p in pairs]


def component(conf: Confidence, name: str) -> ConfidenceComponent:
    return next(c for c in conf.components if c.name == name)


# ----------------------------------------------------------------------------- score_logprobs


def test_confident_answer_scores_high_with_no_reasons() -> None:
    conf = score_logprobs(tokens(("Your", 0.99), (" order", 0.98), (" shipped", 0.97), (".", 0.99)))
    assert conf.score > 0.95
    assert conf.reasons == ()
    assert {c.name for c in conf.components} == {
        "logprob_mean",
        "logprob_tail",
        "logprob_confident_share",
    }
    assert sum(c.weight for c in conf.components) == pytest.approx(1.0)


def test_components_are_geometric_mean_tail_and_confident_share() -> None:
    conf = score_logprobs(tokens(("a", 0.9), ("b", 0.4), ("c", 0.1), ("d", 0.8)))
    assert component(conf, "logprob_mean").value == pytest.approx((0.9 * 0.4 * 0.1 * 0.8) ** 0.25)
    assert component(conf, "logprob_tail").value == pytest.approx(0.1)  # min for < 21 tokens
    assert component(conf, "logprob_confident_share").value == pytest.approx(0.75)
    expected = 0.5 * (0.9 * 0.4 * 0.1 * 0.8) ** 0.25 + 0.3 * 0.1 + 0.2 * 0.75
    assert conf.score == pytest.approx(expected)


def test_one_invented_word_drags_the_score_and_is_named_in_the_reasons() -> None:
    sure = [("订单", 0.99)] * 10
    conf = score_logprobs(tokens(*sure, (" SO2026", 0.04), *sure))
    # 21 content tokens: the tail is the mean of the two least likely.
    assert component(conf, "logprob_tail").value == pytest.approx((0.04 + 0.99) / 2)
    assert conf.score < 0.85
    assert conf.score < score_logprobs(tokens(*sure, (" SO2026", 0.99), *sure)).score - 0.15
    assert any("SO2026" in reason for reason in conf.reasons)


def test_unsure_whitespace_and_punctuation_do_not_count_as_doubt() -> None:
    sure = score_logprobs(tokens(("Hello", 0.95), ("world", 0.95)))
    punctuated = score_logprobs(tokens(("Hello", 0.95), (" ", 0.01), ("world", 0.95), ("！", 0.02)))
    assert component(punctuated, "logprob_tail").value == pytest.approx(0.95)
    assert component(punctuated, "logprob_confident_share").value == 1.0
    # The geometric mean still sees every token, so the score is lower but not collapsed.
    assert sure.score > punctuated.score > 0.3


def test_punctuation_only_answer_falls_back_to_all_tokens() -> None:
    conf = score_logprobs(tokens(("...", 0.2), ("?", 0.9)))
    assert component(conf, "logprob_tail").value == pytest.approx(0.2)


def test_tail_is_the_mean_of_the_lowest_five_percent_for_long_answers() -> None:
    probabilities = [0.01] + [0.02] + [0.9] * 98
    conf = score_logprobs(tokens(*((f"w{i}", p) for i, p in enumerate(probabilities))))
    # 5% of 100 content tokens: the mean of the five least likely.
    assert component(conf, "logprob_tail").value == pytest.approx((0.01 + 0.02 + 3 * 0.9) / 5)
    assert any("'w0'" in reason for reason in conf.reasons)  # the least likely is named
    strict = score_logprobs(
        tokens(*((f"w{i}", p) for i, p in enumerate(probabilities))),
        ConfidenceWeights(tail_quantile=0.0),
    )
    assert component(strict, "logprob_tail").value == pytest.approx(0.01)


def test_empty_logprobs_score_zero_with_a_reason() -> None:
    conf = score_logprobs([])
    assert conf.score == 0.0
    assert conf.reasons == (NO_LOGPROBS_REASON,)
    # The zero survives combining with other evidence instead of vanishing.
    grounded = with_component(conf, ConfidenceComponent("grounding", 1.0, 1.0))
    assert grounded.score == pytest.approx(0.5)


def test_positive_logprob_rounding_noise_is_clamped_and_nan_rejected() -> None:
    conf = score_logprobs([TokenLogprob("ok", 1e-7), TokenLogprob("fine", 0.0)])
    assert conf.score == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        score_logprobs([TokenLogprob("ok", -0.1), TokenLogprob(",", math.nan)])


def test_zero_probability_token_gives_zero_mean() -> None:
    conf = score_logprobs(tokens(("a", 0.99), ("b", 0.0)))
    assert component(conf, "logprob_mean").value == 0.0
    assert 0.0 <= conf.score < 0.2


def test_custom_weights_change_the_mix_and_bad_weights_are_rejected() -> None:
    logprobs = tokens(("a", 0.9), ("b", 0.1))
    only_tail = score_logprobs(logprobs, ConfidenceWeights(0, 1, 0))
    assert only_tail.score == pytest.approx(0.1)
    with pytest.raises(InvalidInputError):
        ConfidenceWeights(0, 0, 0)
    with pytest.raises(InvalidInputError):
        ConfidenceWeights(mean_probability=-1)
    with pytest.raises(InvalidInputError):
        ConfidenceWeights(low_probability=1.5)


def test_is_content_token() -> None:
    assert is_content_token(" order") and is_content_token("订") and is_content_token("42")
    assert not is_content_token(" ") and not is_content_token("。") and not is_content_token("")


# ----------------------------------------------------------------------------- combining


def test_with_component_renormalises_and_records_the_reason() -> None:
    base = score_logprobs(tokens(("a", 0.9), ("b", 0.9)))
    grounded = with_component(
        base,
        ConfidenceComponent("grounding", 0.0, 1.0, "price ¥99 not in catalogue"),
        reason="quoted a price that is not in the catalogue",
    )
    assert grounded.score == pytest.approx(base.score / 2)
    assert grounded.reasons[-1] == "quoted a price that is not in the catalogue"
    assert component(grounded, "grounding").detail == "price ¥99 not in catalogue"


def test_with_component_replaces_a_component_of_the_same_name() -> None:
    base = Confidence(1.0, (ConfidenceComponent("retrieval", 1.0, 1.0),))
    first = with_component(base, ConfidenceComponent("grounding", 0.0, 1.0))
    second = with_component(first, ConfidenceComponent("grounding", 1.0, 1.0))
    assert [c.name for c in second.components] == ["retrieval", "grounding"]
    assert second.score == 1.0


def test_combine_pools_confidences_and_components_and_applies_caps() -> None:
    logprob = score_logprobs(tokens(("a", 0.8)))
    retrieval = ConfidenceComponent("retrieval", 0.5, 1.0, "top passage 0.5")
    combined = combine(logprob, retrieval)
    assert combined.score == pytest.approx((logprob.score * 1.0 + 0.5 * 1.0) / 2)
    capped = combine(logprob, retrieval, caps=(ScoreCap("order_unknown", 0.2, "order not found"),))
    assert capped.score == pytest.approx(0.2)
    assert capped.reasons[-1] == "order not found"
    cap = component(capped, CAP_PREFIX + "order_unknown")
    assert (cap.value, cap.weight) == (0.2, 0.0)
    # A cap above the score changes nothing.
    assert combine(combined, caps=(ScoreCap("loose", 0.99, "x"),)).score == combined.score


def test_caps_survive_later_evidence() -> None:
    capped = with_cap(
        score_logprobs(tokens(("a", 0.99))), "handoff_keyword", 0.1, "asked for a human"
    )
    boosted = with_component(capped, ConfidenceComponent("grounding", 1.0, 5.0))
    assert boosted.score == pytest.approx(0.1)
    assert "asked for a human" in boosted.reasons


def test_combine_with_no_evidence_scores_zero() -> None:
    assert combine().score == 0.0
    assert score_components([ConfidenceComponent("x", 0.9, 0.0)]) == 0.0


def test_invalid_components_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="not in"):
        combine(ConfidenceComponent("bad", 1.5, 1.0))
    with pytest.raises(InvalidInputError, match="weight"):
        combine(ConfidenceComponent("bad", 0.5, -1.0))
    with pytest.raises(InvalidInputError):
        with_cap(Confidence(0.5), "bad", math.nan, "nan cap")


def test_scaled_sets_a_group_share_without_changing_its_score() -> None:
    logprob = score_logprobs(tokens(("a", 0.9), ("b", 0.2)))
    heavy = scaled(logprob, 3.0)
    assert sum(c.weight for c in heavy.components) == pytest.approx(3.0)
    assert heavy.score == pytest.approx(logprob.score)
    mixed = with_component(heavy, ConfidenceComponent("grounding", 1.0, 1.0))
    assert mixed.score == pytest.approx(0.75 * logprob.score + 0.25)
    with pytest.raises(InvalidInputError):
        scaled(logprob, 0)


# ----------------------------------------------------------------------------- properties

TOKENS = st.sampled_from(["订单", " order", "42", " ", "。", ",", "SO2026", "\n", "shipped"])
LOGPROB = st.one_of(st.floats(min_value=-60.0, max_value=0.0), st.just(-math.inf))
LOGPROB_LISTS = st.lists(st.tuples(TOKENS, LOGPROB), min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(LOGPROB_LISTS)
def test_score_is_always_in_unit_interval(pairs: list[tuple[str, float]]) -> None:
    conf = score_logprobs([TokenLogprob(t, lp) for t, lp in pairs])
    assert 0.0 <= conf.score <= 1.0
    assert all(0.0 <= c.value <= 1.0 for c in conf.components)


@settings(max_examples=200, deadline=None)
@given(LOGPROB_LISTS, st.data())
def test_score_is_monotonic_in_every_logprob(pairs: list[tuple[str, float]], data) -> None:
    raises = data.draw(
        st.lists(st.floats(0.0, 30.0), min_size=len(pairs), max_size=len(pairs)), label="raises"
    )
    before = score_logprobs([TokenLogprob(t, lp) for t, lp in pairs])
    higher = [
        TokenLogprob(t, min(0.0, lp + up) if math.isfinite(lp) else (-up * 3 if up else lp))
        for (t, lp), up in zip(pairs, raises, strict=True)
    ]
    after = score_logprobs(higher)
    assert after.score >= before.score - 1e-12


COMPONENTS = st.builds(
    ConfidenceComponent,
    name=st.sampled_from(["grounding", "retrieval", "rules", "tools"]),
    value=st.floats(0.0, 1.0),
    weight=st.floats(0.0, 10.0),
)


@settings(max_examples=200, deadline=None)
@given(LOGPROB_LISTS, COMPONENTS)
def test_new_evidence_moves_the_score_towards_its_value(pairs, extra) -> None:
    base = score_logprobs([TokenLogprob(t, lp) for t, lp in pairs])
    after = with_component(base, extra)
    low, high = sorted((base.score, extra.value))
    assert low - 1e-9 <= after.score <= high + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.lists(COMPONENTS, max_size=6), st.floats(0.0, 1.0))
def test_combined_score_is_in_unit_interval_and_never_above_a_cap(parts, limit) -> None:
    conf = combine(*parts, caps=(ScoreCap("rule", limit, "rule fired"),))
    assert 0.0 <= conf.score <= limit
