"""User-facing fallback texts, in one place, in Chinese and English.

Look texts up with :func:`text`; keys are referenced by :class:`core.errors.KefuError`.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["zh", "en"]

TEXTS: dict[str, dict[Language, str]] = {
    "internal_error": {
        "en": "Sorry, something went wrong on our side. Please try again in a moment.",
        "zh": "抱歉，我们这边出了点问题，请稍后再试。",
    },
    "invalid_input": {
        "en": "Sorry, I could not read that message.",
        "zh": "抱歉，我无法读取这条消息。",
    },
    "image_invalid": {
        "en": "Sorry, I could not open that photo. Please send it again as a JPEG or PNG.",
        "zh": "抱歉，这张图片无法打开，请以 JPEG 或 PNG 格式重新发送。",
    },
    "image_too_large": {
        "en": "That photo is too large. Please send a smaller one (under 20 MB).",
        "zh": "图片太大了，请发送小于 20 MB 的图片。",
    },
    "image_unsupported": {
        "en": "That image format is not supported. Please send JPEG, PNG, WebP, BMP or GIF.",
        "zh": "不支持该图片格式，请发送 JPEG、PNG、WebP、BMP 或 GIF。",
    },
    "image_fetch_failed": {
        "en": "Sorry, I could not download that photo.",
        "zh": "抱歉，无法下载这张图片。",
    },
    "unsupported_content": {
        "en": "I can read text and photos. Voice messages, videos, stickers and other files are not supported yet.",
        "zh": "我可以读取文字和图片，暂不支持语音、视频、贴纸和其他文件。",
    },
    "not_found": {
        "en": "Sorry, I could not find that.",
        "zh": "抱歉，没有找到相关信息。",
    },
    "engine_unavailable": {
        "en": "Sorry, I cannot answer right now. A member of staff will get back to you.",
        "zh": "抱歉，我暂时无法回答，工作人员会尽快回复您。",
    },
    "reset_done": {
        "en": "Conversation cleared. How can I help?",
        "zh": "对话已清空。请问有什么可以帮您？",
    },
}


def detect_language(sample: str) -> Language:
    """Guess the customer's language: Chinese if any CJK ideograph appears, else English."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in sample) else "en"


def text(key: str, language: Language = "en") -> str:
    """Return the user-facing text for ``key`` in ``language``.

    Raises:
        KeyError: if ``key`` is unknown (a programming error, caught by tests).
    """
    return TEXTS[key][language]
