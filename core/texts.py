"""User-facing fallback texts, in one place, in Chinese and English.

Look texts up with :func:`text`; keys are referenced by :class:`core.errors.KefuError`.
"""

from __future__ import annotations

from typing import Literal

from core.errors import KefuError

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
    "contact_phone": {"en": "phone", "zh": "电话"},
    "contact_email": {"en": "email", "zh": "邮箱"},
    "contact_wechat": {"en": "WeChat", "zh": "微信"},
    "not_found": {
        "en": "Sorry, I could not find that.",
        "zh": "抱歉，没有找到相关信息。",
    },
    "engine_unavailable": {
        "en": "Sorry, I cannot answer right now. A member of staff will get back to you.",
        "zh": "抱歉，我暂时无法回答，工作人员会尽快回复您。",
    },
    "thanks_reply": {
        "en": "You're welcome! Is there anything else I can help with?",
        "zh": "不客气！还有什么可以帮您的吗？",
    },
    "greeting": {
        "en": 'Hello! I am the shop\'s assistant. Ask me about products, prices, promotions, shipping, returns or your order (send the order number or a screenshot). Type /human or press "Talk to a person" to reach our staff.',
        "zh": "您好！我是店铺的智能客服。可以问我商品、价格、优惠、配送、退换货或订单（发送订单号或截图）。输入 /human 或点击“转人工”即可联系工作人员。",
    },
    "handoff_notice": {
        "en": "I have passed your conversation to a member of our staff. A person will reply here, usually within {wait} minutes.",
        "zh": "已为您转接人工客服，工作人员会在这里回复您，通常在 {wait} 分钟内。",
    },
    "handoff_already": {
        "en": "A member of our staff has your conversation and will reply here.",
        "zh": "您的对话已转给工作人员，他们会在这里回复您。",
    },
    "handoff_returned": {
        "en": "You are talking to the shop assistant bot again. How can I help?",
        "zh": "您已回到智能客服，请问还有什么可以帮您？",
    },
    "handoff_timeout": {
        "en": "Sorry for the wait. Our staff are busy; we have reminded them and someone will reply as soon as possible.",
        "zh": "抱歉让您久等了，工作人员正忙，我们已再次提醒，会尽快回复您。",
    },
    "rate_limited": {
        "en": "You are sending messages faster than I can answer them. I have all of them and will reply to them together in a moment.",
        "zh": "您发送消息的速度有点快，我都收到了，稍后会一并回复您。",
    },
    "engine_delayed": {
        "en": "Sorry, I need a little longer than usual to answer. I have your message and will reply here as soon as I can.",
        "zh": "抱歉，我需要比平时多一点时间。您的消息已收到，我会尽快在这里回复您。",
    },
    "message_failed": {
        "en": "Sorry, I could not process your last message. Our staff have been notified; please try rephrasing it.",
        "zh": "抱歉，无法处理您的上一条消息，我们已通知工作人员，请换一种说法再试。",
    },
    "handoff_unavailable": {
        "en": "No member of staff can be reached here right now. You can contact the shop directly: {contact}. I am still here and will keep answering your questions.",
        "zh": "目前这里暂时无法联系到工作人员。您可以直接联系店铺：{contact}。我会继续在这里为您解答。",
    },
    "handoff_unavailable_no_contact": {
        "en": "No member of staff can be reached here right now; please contact the shop through its website or store page. I am still here and will keep answering your questions.",
        "zh": "目前这里暂时无法联系到工作人员，请通过店铺网站或店铺页面联系我们。我会继续在这里为您解答。",
    },
    "unknown_command": {
        "en": "I do not know the command /{command}. You can type /help for what I can do, /reset to start over, or /human to talk to a person. Or simply ask your question.",
        "zh": "我不认识命令 /{command}。输入 /help 查看我能做什么，/reset 重新开始，/human 联系人工客服，或直接提问。",
    },
    "orders_private_only": {
        "en": "For your privacy I only share order details in a private chat. Please message me directly and I will look it up for you.",
        "zh": "为保护您的隐私，订单信息只在私聊中提供。请私信我，我会为您查询。",
    },
    "talk_to_person": {"en": "Talk to a person", "zh": "转人工"},
    "reset_done": {
        "en": "Conversation cleared. How can I help?",
        "zh": "对话已清空。请问有什么可以帮您？",
    },
}


def detect_language(sample: str) -> Language:
    """Guess the customer's language: Chinese if any CJK ideograph appears, else English."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in sample) else "en"


def public_message(error: KefuError, language: Language = "en") -> str:
    """What an HTTP edge may answer about ``error``: its own text when that names nothing
    internal, else the user text of its kind (no addresses, no database wording)."""
    return str(error) if error.discloses else text(error.user_message_key, language)


def text(key: str, language: Language = "en") -> str:
    """Return the user-facing text for ``key`` in ``language``.

    Raises:
        KeyError: if ``key`` is unknown (a programming error, caught by tests).
    """
    return TEXTS[key][language]
