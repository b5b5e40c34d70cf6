"""What staff read about a handoff: a deterministic summary, the transcript, the texts.

No model is involved: the summary is the customer's latest messages, keyword intents,
order numbers and photo count, so it is instant, reproducible and cannot hallucinate.
Staff-facing texts are English (the staff desk's language); customer-facing texts stay
in :mod:`core.texts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.knowledge.intents import detect_intents
from core.knowledge.ordernumbers import find_order_numbers
from core.knowledge.policy import COMPLAINT_PHRASES, DAMAGE_PHRASES
from core.knowledge.textproc import normalise
from core.model.decision import HandoffStatus
from core.model.handoff import HandoffRecord, TranscriptEntry
from core.model.turn import Button, Command, Role, Sender

MAX_QUOTE_CHARS = 300
BUTTON_LABELS = {Command.TAKE: "Take", Command.RESOLVE: "Resolve", Command.RETURN: "Return to bot"}
NOTE_PREFIX = "//"  # staff messages starting with it stay in the thread (internal notes)
DRAFT_HEADER = "Bot's draft answer (a suggestion, NOT sent to the customer):"
# Damage wordings the handoff policy does not need (it already hands these over as
# complaints) but the summary should still name.
EXTRA_DAMAGE = ("坏的", "坏掉", "裂了", "开胶", "broke", "cracked")


@dataclass(frozen=True, slots=True)
class HandoffSummary:
    """The facts at the top of a staff thread.

    Attributes:
        intents: Detected topics, e.g. ``("complaint", "damaged item", "refund/return")``.
        recent: The customer's latest messages, oldest first, shortened.
        photos: Photos the customer sent in the transcript window.
        order_numbers: Order numbers mentioned (customer text only; never trusted as identity).
    """

    customer: Sender
    platform: str
    reason: str
    intents: tuple[str, ...]
    recent: tuple[str, ...]
    photos: int
    order_numbers: tuple[str, ...]


def _shorten(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def detect_topics(text: str) -> tuple[str, ...]:
    """Keyword topics of the customer's words (Chinese and English)."""
    lowered = normalise(text)
    intents = detect_intents(text)
    found = [
        ("complaint", any(normalise(p) in lowered for p in COMPLAINT_PHRASES)),
        ("damaged item", any(normalise(p) in lowered for p in (*DAMAGE_PHRASES, *EXTRA_DAMAGE))),
        ("refund/return", intents.order_action),
        ("order status", intents.order_status),
        ("price", intents.price),
        ("stock", intents.stock),
        ("promotion", intents.promotion),
    ]
    return tuple(name for name, hit in found if hit)


def summarise(
    record: HandoffRecord, customer: Sender, entries: Sequence[TranscriptEntry], recent_count: int
) -> HandoffSummary:
    """Summarise a handoff from its transcript (deterministic)."""
    said = [e for e in entries if e.role is Role.CUSTOMER]
    words = "\n".join(e.text for e in said)
    return HandoffSummary(
        customer=customer,
        platform=record.customer_key.channel,
        reason=record.reason,
        intents=detect_topics(words),
        recent=tuple(_shorten(e.text) for e in said[-recent_count:] if e.text.strip()),
        photos=sum(len(e.images) for e in said),
        order_numbers=tuple(dict.fromkeys(find_order_numbers(words))),
    )


def customer_label(customer: Sender, platform: str) -> str:
    """``"张三 (telegram id 42)"``: the name and the platform-verified id."""
    name = customer.display_name or "unknown name"
    return f"{name} ({platform} id {customer.user_id})"


def parent_text(record: HandoffRecord, summary: HandoffSummary) -> str:
    """The thread's first message: who, where, why, and the summary."""
    lines = [
        f"Handoff #{record.id}: a customer needs a person",
        f"Customer: {customer_label(summary.customer, summary.platform)}",
        f"Platform: {summary.platform}",
        f"Reason: {summary.reason}",
        f"Topics: {', '.join(summary.intents) or 'none detected'}",
    ]
    if summary.order_numbers:
        lines.append(f"Order numbers mentioned: {', '.join(summary.order_numbers)}")
    if summary.photos:
        lines.append(f"Photos: {summary.photos} (re-uploaded below)")
    if summary.recent:
        lines.append("Latest messages:")
        lines.extend(f"• {message}" for message in summary.recent)
    lines.append(
        "Reply in this thread to answer the customer "
        f"(start a message with {NOTE_PREFIX} for an internal note)."
    )
    return "\n".join(lines)


def buttons(handoff_id: int) -> tuple[Button, ...]:
    """Take / Resolve / Return to bot; each carries the handoff id."""
    return tuple(Button(label, action, str(handoff_id)) for action, label in BUTTON_LABELS.items())


def _speaker(entry: TranscriptEntry) -> str:
    if entry.role is Role.BOT:
        return "bot"
    name = entry.sender.display_name or entry.sender.user_id
    return f"staff {name}" if entry.role is Role.STAFF else name


def transcript_text(entries: Sequence[TranscriptEntry]) -> str:
    """The recent turns, one line each, oldest first."""
    lines = [f"Transcript (last {len(entries)} turns, times in UTC):"]
    for entry in entries:
        body = entry.text or (f"/{entry.command.value}" if entry.command else "")
        photos = f" [{len(entry.images)} photo(s)]" if entry.images else ""
        lines.append(f"[{entry.at:%H:%M}] {_speaker(entry)}: {_shorten(body, 1000)}{photos}")
    return "\n".join(lines)


def draft_text(draft: str) -> str:
    return f"{DRAFT_HEADER}\n{draft}"


def relay_text(customer: Sender, text: str, photos: int) -> str:
    """A customer message relayed into the thread."""
    name = customer.display_name or customer.user_id
    suffix = f" [{photos} photo(s) below]" if photos else ""
    return f"{name}: {text}{suffix}" if text else f"{name} sent{suffix or ' an empty message'}"


def reminder_text(record: HandoffRecord, waited_minutes: float) -> str:
    return (f"Reminder: handoff #{record.id} has waited {waited_minutes:g} min and nobody "
            "has taken it yet. Press Take, or reply in this thread.")  # fmt: skip


def taken_text(name: str) -> str:
    return f"{name} took this."


def closed_text(action: Command, name: str) -> str:
    if action is Command.RESOLVE:
        return f"{name} resolved this. The bot answers the customer again."
    return f"{name} returned this to the bot. The bot answers the customer again."


def not_relayed_text(status: HandoffStatus) -> str:
    return f"Not sent: this handoff is {status.value}; the bot answers the customer now."
