"""How sure kefu is of an answer: token log-probabilities first, other evidence added later.

A :class:`~core.model.turn.Confidence` is a weighted mean of named components, each a value in
[0, 1] with a weight, optionally capped by hard rules. The score is always recomputed from
the components (:func:`score_components`), so evidence can be added in any order:

    conf = score_logprobs(logprobs)                       # three logprob components
    conf = with_component(conf, ConfidenceComponent("grounding", 0.2, 1.0, "price not in"
                          " catalogue"), reason="quoted price is not in the catalogue")
    conf = with_cap(conf, "no_order_found", 0.3, "order number not found")

Adding a component renormalises: the new weight is compared with the sum of the existing
weights (the logprob components sum to 1 by default). A component whose name starts with
``cap:`` is a ceiling, not evidence: the score is at most its value, whatever its weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.engines.base import TokenLogprob
from core.errors import InvalidInputError
from core.model.turn import Confidence, ConfidenceComponent

CAP_PREFIX = "cap:"
NO_LOGPROBS_REASON = "no token log-probabilities"


@dataclass(frozen=True, slots=True)
class ConfidenceWeights:
    """How token probabilities become a score.

    The default weights favour the overall (geometric-mean) probability, then the least
    certain content token (one invented order number or price is what goes wrong), then
    the share of confident tokens. They sum to 1, so other evidence added later with
    weight ``w`` takes ``w / (1 + w)`` of the score.

    Attributes:
        mean_probability: Weight of the geometric-mean token probability.
        tail_probability: Weight of the low tail: the mean probability of the least likely
            ``tail_quantile`` share of content tokens.
        confident_share: Weight of the share of content tokens with p >= ``low_probability``.
        low_probability: Probability under which a token counts as unsure.
        tail_quantile: Share of content tokens that forms the tail; 0.05 means the single
            least likely token for answers up to 20 content tokens, the lowest two up to
            40, and so on.
    """

    mean_probability: float = 0.5
    tail_probability: float = 0.3
    confident_share: float = 0.2
    low_probability: float = 0.3
    tail_quantile: float = 0.05

    def __post_init__(self) -> None:
        weights = (self.mean_probability, self.tail_probability, self.confident_share)
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise InvalidInputError(f"confidence weights must be >= 0 with a positive sum: {self}")
        if not 0 < self.low_probability < 1 or not 0 <= self.tail_quantile <= 1:
            raise InvalidInputError(
                f"low_probability must be in (0,1), tail_quantile in [0,1]: {self}"
            )


DEFAULT_WEIGHTS = ConfidenceWeights()


@dataclass(frozen=True, slots=True)
class ScoreCap:
    """A hard rule's verdict: whatever the evidence, the score is at most ``limit``.

    Attributes:
        name: Rule name (stored as component ``cap:<name>``).
        limit: Ceiling in [0, 1].
        reason: Why, for the decision log.
    """

    name: str
    limit: float
    reason: str


def is_content_token(token: str) -> bool:
    """True when a token carries a letter or digit (CJK included), not only space/punctuation."""
    return any(ch.isalnum() for ch in token)


def _probabilities(logprobs: Sequence[TokenLogprob]) -> list[float]:
    probabilities = []
    for item in logprobs:
        if math.isnan(item.logprob):
            raise InvalidInputError(f"token {item.token!r} has a NaN log-probability")
        # Servers sometimes report tiny positive logprobs from rounding; p is at most 1.
        probabilities.append(math.exp(min(item.logprob, 0.0)))
    return probabilities


def _geometric_mean(logprobs: Sequence[TokenLogprob]) -> float:
    total = sum(min(item.logprob, 0.0) for item in logprobs)
    return math.exp(total / len(logprobs)) if math.isfinite(total) else 0.0


def _tail(probabilities: Sequence[float], quantile: float) -> tuple[int, float]:
    """Index of the least likely token, and the mean of the lowest ``quantile`` share.

    The mean of the lowest ``ceil(q * n)`` probabilities (at least one) is the minimum for
    short answers and softens one odd word choice in a long one, yet a single invented
    code still pulls it down. It never falls when any probability rises.
    """
    ordered = sorted(range(len(probabilities)), key=lambda i: probabilities[i])
    count = max(1, math.ceil(quantile * len(ordered)))
    lowest = [probabilities[i] for i in ordered[:count]]
    return ordered[0], sum(lowest) / count


def score_logprobs(
    logprobs: Sequence[TokenLogprob], weights: ConfidenceWeights = DEFAULT_WEIGHTS
) -> Confidence:
    """Score an answer from the log-probabilities of its chosen tokens.

    Content tokens (with a letter or digit) decide the tail and the confident share, so
    sure-but-irrelevant whitespace and punctuation neither hide nor cause doubt; when an
    answer has no content token, all tokens are used.

    Args:
        logprobs: The chosen tokens' log-probabilities, in order.
        weights: Component weights and thresholds.

    Returns:
        A confidence whose components are ``logprob_mean``, ``logprob_tail`` and
        ``logprob_confident_share``. With no tokens: score 0, one zero component and the
        reason :data:`NO_LOGPROBS_REASON`.

    Raises:
        InvalidInputError: a log-probability is NaN.
    """
    if not logprobs:
        empty = ConfidenceComponent("logprob_mean", 0.0, 1.0, NO_LOGPROBS_REASON)
        return Confidence(0.0, (empty,), (NO_LOGPROBS_REASON,))
    every_p = _probabilities(logprobs)  # also rejects NaN anywhere
    picked = [i for i, item in enumerate(logprobs) if is_content_token(item.token)]
    picked = picked or list(range(len(logprobs)))
    content = [logprobs[i] for i in picked]
    probabilities = [every_p[i] for i in picked]
    mean = _geometric_mean(logprobs)
    tail_index, tail = _tail(probabilities, weights.tail_quantile)
    unsure = sum(p < weights.low_probability for p in probabilities)
    share = 1.0 - unsure / len(probabilities)
    tail_token = content[tail_index].token
    components = (
        ConfidenceComponent(
            "logprob_mean", mean, weights.mean_probability,
            f"geometric mean p over {len(logprobs)} tokens",
        ),
        ConfidenceComponent(
            "logprob_tail", tail, weights.tail_probability,
            f"lowest {weights.tail_quantile:.0%} of content tokens; least likely {tail_token!r}",
        ),
        ConfidenceComponent(
            "logprob_confident_share", share, weights.confident_share,
            f"{unsure} of {len(probabilities)} content tokens below p={weights.low_probability:g}",
        ),
    )  # fmt: skip
    least = (tail_token, probabilities[tail_index])
    reasons = _logprob_reasons(mean, least, unsure, len(probabilities), weights)
    return Confidence(score_components(components), components, reasons)


def _logprob_reasons(
    mean: float, tail: tuple[str, float], unsure: int, content: int, weights: ConfidenceWeights
) -> tuple[str, ...]:
    reasons: list[str] = []
    if mean < 0.5:
        reasons.append(f"low average token probability ({mean:.2f})")
    if tail[1] < weights.low_probability:
        reasons.append(f"unsure about {tail[0]!r} (p={tail[1]:.2f})")
    if unsure and unsure / content > 0.2:
        reasons.append(f"{unsure} of {content} content tokens were guesses")
    return tuple(reasons)


def is_cap(component: ConfidenceComponent) -> bool:
    return component.name.startswith(CAP_PREFIX)


def _check(component: ConfidenceComponent) -> None:
    if not (math.isfinite(component.value) and 0.0 <= component.value <= 1.0):
        raise InvalidInputError(
            f"component {component.name!r} value {component.value} not in [0, 1]"
        )
    if not (math.isfinite(component.weight) and component.weight >= 0.0):
        raise InvalidInputError(f"component {component.name!r} weight {component.weight} < 0")


def score_components(components: Iterable[ConfidenceComponent]) -> float:
    """The score the components imply: their weighted mean, at most every cap.

    No evidence (no weight) scores 0: kefu is never confident by default.
    """
    pooled = tuple(components)
    evidence = [c for c in pooled if not is_cap(c)]
    ceilings = [c.value for c in pooled if is_cap(c)]
    total = sum(c.weight for c in evidence)
    mean = sum(c.value * c.weight for c in evidence) / total if total > 0 else 0.0
    return min(1.0, max(0.0, min([mean, *ceilings])))


def _merge(components: Iterable[ConfidenceComponent], reasons: Iterable[str]) -> Confidence:
    by_name: dict[str, ConfidenceComponent] = {}
    for component in components:
        _check(component)
        by_name.pop(component.name, None)  # a later component of the same name replaces it
        by_name[component.name] = component
    merged = tuple(by_name.values())
    unique_reasons = tuple(dict.fromkeys(r for r in reasons if r))
    return Confidence(score_components(merged), merged, unique_reasons)


def combine(*parts: Confidence | ConfidenceComponent, caps: Sequence[ScoreCap] = ()) -> Confidence:
    """Merge confidences and single components into one, then apply hard caps.

    Components are pooled and the score is their weighted mean (renormalised over all
    weights); a later component with the same name replaces an earlier one. Reasons are
    kept in order, without duplicates; each cap adds its reason.

    Raises:
        InvalidInputError: a value outside [0, 1] or a negative weight.
    """
    components: list[ConfidenceComponent] = []
    reasons: list[str] = []
    for part in parts:
        if isinstance(part, Confidence):
            components.extend(part.components)
            reasons.extend(part.reasons)
        else:
            components.append(part)
    for cap in caps:
        components.append(ConfidenceComponent(CAP_PREFIX + cap.name, cap.limit, 0.0, cap.reason))
        reasons.append(cap.reason)
    return _merge(components, reasons)


def with_component(
    confidence: Confidence, component: ConfidenceComponent, *, reason: str | None = None
) -> Confidence:
    """Add (or replace, by name) one piece of evidence, e.g. a grounding check.

    Args:
        confidence: The confidence so far.
        component: The new evidence; its weight is relative to the existing weights.
        reason: Why it matters, for the decision log (added to ``reasons``).
    """
    return _merge((*confidence.components, component), (*confidence.reasons, reason or ""))


def with_cap(confidence: Confidence, name: str, limit: float, reason: str) -> Confidence:
    """Cap the score at ``limit`` because of a hard rule (see :class:`ScoreCap`)."""
    return combine(confidence, caps=(ScoreCap(name, limit, reason),))


def scaled(confidence: Confidence, total_weight: float) -> Confidence:
    """Rescale a confidence's evidence weights to sum to ``total_weight``.

    Use it to give a whole group of components (all logprob ones, say) a set share before
    combining it with other groups. Caps are unchanged; the score is the same.
    """
    if not (math.isfinite(total_weight) and total_weight > 0):
        raise InvalidInputError(f"total_weight must be positive, got {total_weight}")
    current = sum(c.weight for c in confidence.components if not is_cap(c))
    if current <= 0:
        return confidence
    factor = total_weight / current
    components = tuple(
        c if is_cap(c) else ConfidenceComponent(c.name, c.value, c.weight * factor, c.detail)
        for c in confidence.components
    )
    return _merge(components, confidence.reasons)
