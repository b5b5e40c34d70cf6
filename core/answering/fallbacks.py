"""Answers for the dead ends: a handoff no staff desk can take, an unknown command, an
engine that failed, an answer the person stopped.

A customer must never be left waiting for a person nobody is told about: when no desk is
reachable the handoff becomes a notice with the shop's contact, the conversation stays
with the bot, and the decision log keeps why (and the withheld draft, if any).
"""

from __future__ import annotations

from core.answering.bot import HandoffDecision, ShopContact
from core.errors import EngineError
from core.handoff.relay import draft_reason
from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import Confidence, Reply, ReplyKind, Turn
from core.texts import Language, text

NO_DESK_REASON = "no staff desk reachable: the customer was given the shop's contact"


def contact_text(contact: ShopContact | None, language: Language) -> str:
    """What the customer is told when no person can take the conversation here."""
    found = contact.shop_contact(language).strip() if contact is not None else ""
    if not found:
        return text("handoff_unavailable_no_contact", language)
    return text("handoff_unavailable", language).format(contact=found)


def handoff_decision(
    decision: HandoffDecision,
    confidence: Confidence | None,
    draft: str,
    model: str | None,
    *extra_reasons: str,
) -> Decision:
    """The decision-log entry of a handoff: its kind and reasons, and the withheld draft."""
    withheld = (draft_reason(draft),) if draft.strip() else ()
    return Decision(
        DecisionKind.HANDOFF,
        confidence.score if confidence else None,
        confidence.components if confidence else (),
        (f"handoff:{decision.kind}", *decision.reasons, *extra_reasons, *withheld),
        model,
    )


def no_desk_handoff(
    turn: Turn,
    decision: HandoffDecision,
    language: Language,
    contact: ShopContact | None,
    *,
    confidence: Confidence | None = None,
    draft: str = "",
    model: str | None = None,
    stream_ref: str | None = None,
) -> Completion:
    """The handoff ``decision`` when no desk can take it: the contact, and the bot stays.

    The failures in a row are reset, so the bot answers the next message instead of
    handing off again at once.
    """
    reply = Reply(
        turn.key, contact_text(contact, language), ReplyKind.NOTICE, reply_to=turn.message_id
    )
    return Completion(
        replies=(reply,),
        decision=handoff_decision(decision, confidence, draft, model, NO_DESK_REASON),
        stream_refs={0: stream_ref} if stream_ref else {},
        failure_delta=-1,
    )


def unknown_command(turn: Turn, language: Language) -> Completion:
    """Help for a command kefu does not know (never a handoff)."""
    name = (turn.command_arg or "").strip().lstrip("/")[:32] or "?"
    body = text("unknown_command", language).format(command=name)
    reply = Reply(turn.key, body, ReplyKind.NOTICE, reply_to=turn.message_id)
    reasons = (f"unknown command /{name}: help shown",)
    return Completion((reply,), Decision(DecisionKind.NOTICE, reasons=reasons))


def stopped(turn: Turn, partial: str, model: str | None) -> Completion:
    """The person stopped the answer: nothing is sent; the decision log keeps the part."""
    reasons = ["stopped by the person while the answer was written"]
    if partial.strip():
        reasons.append(draft_reason(partial))
    return Completion((), Decision(DecisionKind.STOPPED, reasons=tuple(reasons), model=model))


def engine_failed(
    turn: Turn, exc: EngineError, language: Language, ref: str | None, model: str | None
) -> Completion:
    """An apology for an engine failure (when the worker does not hold the turn instead)."""
    reply = Reply(
        turn.key, text(exc.user_message_key, language), ReplyKind.ERROR, reply_to=turn.message_id
    )
    return Completion(
        replies=(reply,),
        decision=Decision(DecisionKind.ERROR, reasons=(f"{exc.code}: {exc}",), model=model),
        stream_refs={0: ref} if ref else {},
        failure_delta=1,
    )
