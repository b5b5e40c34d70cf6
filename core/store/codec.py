"""Conversion between core dataclasses and JSON columns of the store."""

from __future__ import annotations

from typing import Any

from core.model.turn import (
    Button,
    Command,
    Confidence,
    ConfidenceComponent,
    ConversationKey,
    ImagePart,
    Part,
    Reply,
    ReplyKind,
    TextPart,
    parse_command_token,
)


def parts_to_json(parts: tuple[Part, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        else:
            out.append({"type": "image", "sha256": part.sha256, "caption": part.caption})
    return out


def parts_from_json(rows: list[dict[str, Any]], images: dict[str, ImagePart]) -> tuple[Part, ...]:
    parts: list[Part] = []
    for row in rows:
        if row["type"] == "text":
            parts.append(TextPart(row["text"]))
        else:
            image = images[row["sha256"]]
            caption = row.get("caption", "")
            parts.append(
                ImagePart(image.data, image.mime, image.width, image.height, image.sha256, caption)
            )
    return tuple(parts)


def components_to_json(components: tuple[ConfidenceComponent, ...]) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "value": c.value, "weight": c.weight, "detail": c.detail}
        for c in components
    ]


def components_from_json(rows: list[dict[str, Any]]) -> tuple[ConfidenceComponent, ...]:
    return tuple(
        ConfidenceComponent(c["name"], c["value"], c["weight"], c.get("detail", "")) for c in rows
    )


def confidence_to_json(confidence: Confidence | None) -> dict[str, Any] | None:
    if confidence is None:
        return None
    return {
        "score": confidence.score,
        "components": components_to_json(confidence.components),
        "reasons": list(confidence.reasons),
    }


def confidence_from_json(data: dict[str, Any] | None) -> Confidence | None:
    if data is None:
        return None
    return Confidence(
        score=float(data["score"]),
        components=tuple(ConfidenceComponent(**c) for c in data.get("components", [])),
        reasons=tuple(data.get("reasons", [])),
    )


def reply_to_json(reply: Reply) -> dict[str, Any]:
    return {
        "key": reply.key.as_str(),
        "text": reply.text,
        "kind": reply.kind.value,
        "reply_to": reply.reply_to,
        "confidence": confidence_to_json(reply.confidence),
        "buttons": [
            {"label": b.label, "command": b.command.value, "arg": b.arg} for b in reply.buttons
        ],
        "images": [{"sha256": i.sha256, "caption": i.caption} for i in reply.images],
    }


def reply_from_json(data: dict[str, Any], images: dict[str, ImagePart]) -> Reply:
    return Reply(
        key=ConversationKey.parse(data["key"]),
        text=data["text"],
        kind=ReplyKind(data["kind"]),
        reply_to=data.get("reply_to"),
        confidence=confidence_from_json(data.get("confidence")),
        buttons=tuple(_button(b) for b in data.get("buttons", [])),
        images=tuple(
            ImagePart(
                images[i["sha256"]].data,
                images[i["sha256"]].mime,
                images[i["sha256"]].width,
                images[i["sha256"]].height,
                i["sha256"],
                i.get("caption", ""),
            )
            for i in data.get("images", [])
        ),
    )


def _button(data: dict[str, Any]) -> Button:
    if "command" in data:
        return Button(data["label"], Command(data["command"]), data.get("arg", ""))
    # Outbox rows written before commands were typed carry the platform token.
    parsed = parse_command_token(data["action"]) or (Command.HELP, "")
    return Button(data["label"], *parsed)
