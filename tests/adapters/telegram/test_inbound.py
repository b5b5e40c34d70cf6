"""Pure inbound logic: real-shaped update JSON through PTB's parser into Inbound and Turn."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from adapters.telegram.inbound import (
    BotIdentity,
    Inbound,
    MediaOutcome,
    Received,
    parse_update,
)
from adapters.telegram.turns import build_turn, notices_for
from core.errors import FetchError, ImageError
from core.model.turn import (
    Audience,
    ContentProblem,
    ConversationKey,
    ImagePart,
    Role,
    TextPart,
)
from tests.fakes.telegram_server import UpdateFactory

BOT = BotIdentity(777000111, "kefu_test_bot")
FACTORY = UpdateFactory(
    {"id": BOT.user_id, "is_bot": True, "first_name": "Kefu", "username": BOT.username}
)
IMAGE = ImagePart.from_normalised(b"jpeg-bytes", "image/jpeg", 64, 48)


def parse(data: dict[str, Any]) -> Inbound | None:
    return parse_update(Update.de_json(data, None), BOT)


def parsed(data: dict[str, Any]) -> Inbound:
    inbound = parse(data)
    assert inbound is not None
    return inbound


def single(inbound: Inbound, outcome: MediaOutcome | None = None) -> Received:
    return Received((inbound,), (outcome,))


def with_caption(image: ImagePart, caption: str) -> ImagePart:
    return ImagePart.from_normalised(image.data, image.mime, image.width, image.height, caption)


def test_text_message_becomes_a_customer_turn() -> None:
    inbound = parsed(FACTORY.text("Where is my order?", chat_id=42))
    turn = build_turn(single(inbound))
    assert turn.key == ConversationKey("telegram", "42", "")
    assert turn.sender.user_id == "42" and turn.sender.role is Role.CUSTOMER
    assert turn.sender.display_name == "Ada Lovelace"
    assert turn.message_id == f"42:{inbound.telegram_message_id}"
    assert turn.parts == (TextPart("Where is my order?"),)
    assert turn.command is None and inbound.addressed
    assert turn.timestamp.tzinfo is not None


def test_photo_takes_the_largest_size_and_binds_the_caption() -> None:
    inbound = parsed(FACTORY.photo("ph1", caption="Is this the right size?"))
    assert inbound.media is not None
    assert inbound.media.file_id == "ph1" and inbound.media.file_size == 50_000
    assert inbound.media.caption == "Is this the right size?"
    image = with_caption(IMAGE, "Is this the right size?")
    turn = build_turn(single(inbound, MediaOutcome(image=image)))
    assert turn.parts == (image,)
    assert turn.text == "Is this the right size?"
    assert notices_for(single(inbound, MediaOutcome(image=image))) == ()


def test_unreadable_photo_keeps_the_caption_and_notes_the_failure() -> None:
    inbound = parsed(FACTORY.photo("bad", caption="my receipt"))
    received = single(inbound, MediaOutcome(error=ImageError("corrupt image")))
    turn = build_turn(received)
    assert turn.parts == (
        TextPart("my receipt"),
        TextPart("[photo could not be read: invalid_image]"),
    )
    assert turn.command is None
    assert notices_for(received) == ("image_invalid",)


def test_photo_only_failure_is_an_image_error_turn() -> None:
    inbound = parsed(FACTORY.photo("bad"))
    received = single(inbound, MediaOutcome(error=FetchError("timeout")))
    turn = build_turn(received)
    assert turn.command is None and turn.problem is ContentProblem.IMAGE_ERROR
    assert turn.parts == (TextPart("[photo could not be read: fetch_failed]"),)
    assert notices_for(received) == ("image_fetch_failed",)


def test_album_items_merge_into_one_turn_in_message_order() -> None:
    items = [
        parsed(u)
        for u in FACTORY.album(["a1", "a2", "a3"], caption="which one?", media_group_id="g7")
    ]
    assert all(item.media_group_id == "g7" for item in items)
    images = [with_caption(IMAGE, "which one?"), IMAGE, IMAGE]
    shuffled = [2, 0, 1]  # arrival order differs from message order
    received = Received(tuple(items[i] for i in shuffled),
                        tuple(MediaOutcome(image=images[i]) for i in shuffled))  # fmt: skip
    turn = build_turn(received)
    ids = "+".join(str(item.telegram_message_id) for item in items)  # named by its items
    assert turn.message_id == f"42:album:g7:{ids}"
    assert len(turn.images) == 3 and turn.images[0].caption == "which one?"
    assert turn.text == "which one?"


def test_image_document_is_media_and_other_documents_are_unsupported() -> None:
    image_doc = parsed(FACTORY.document("doc1", "image/png", caption="screenshot"))
    assert image_doc.media is not None and image_doc.media.caption == "screenshot"
    pdf = parsed(FACTORY.document("doc2", "application/pdf"))
    assert pdf.media is None and pdf.unsupported == "document"
    assert build_turn(single(pdf)).problem is ContentProblem.UNSUPPORTED


@pytest.mark.parametrize(
    ("text", "command"),
    [("/start", "start"), ("/start@kefu_test_bot", "start"), ("/HELP", "help"),
     ("/human please", "human"), ("/reset", "reset"), ("/order 5", "unknown")],
)  # fmt: skip
def test_commands(text: str, command: str | None) -> None:
    inbound = parsed(FACTORY.command(text))
    assert inbound.command == command
    turn = build_turn(single(inbound))
    assert turn.command == command and turn.text == text


def test_an_unknown_command_is_one_for_help_in_private_and_when_named_in_a_group() -> None:
    private = build_turn(single(parsed(FACTORY.command("/foo bar"))))
    assert (private.command, private.command_arg) == ("unknown", "foo")
    named = parsed(FACTORY.command("/foo@kefu_test_bot", chat_id=-100123))
    assert named.addressed and (named.command, named.command_arg) == ("unknown", "foo")
    bare = parsed(FACTORY.command("/foo", chat_id=-100123))  # maybe another bot's: left alone
    assert not bare.addressed and bare.command is None


def test_command_for_another_bot_in_a_group_is_not_addressed() -> None:
    ours = parsed(FACTORY.command("/help@kefu_test_bot", chat_id=-100123))
    theirs = parsed(FACTORY.command("/help@other_bot", chat_id=-100123))
    assert ours.addressed and ours.command == "help"
    assert not theirs.addressed and theirs.command is None


def test_edit_is_a_new_turn_deduped_on_edit_date() -> None:
    first = parsed(FACTORY.edited("order SO124, not SO123", message_id=55, edit_date=1_700_000_000))
    again = parsed(FACTORY.edited("order SO124, not SO123", message_id=55, edit_date=1_700_000_000))
    later = parsed(FACTORY.edited("order SO125", message_id=55, edit_date=1_700_000_100))
    assert first.message_id == again.message_id == "42:55:edit:1700000000"
    assert later.message_id == "42:55:edit:1700000100"
    assert build_turn(single(first)).text == "order SO124, not SO123"


def test_unsupported_content_gets_a_localised_placeholder() -> None:
    sticker = parsed(FACTORY.sticker())
    turn = build_turn(single(sticker))
    assert turn.problem is ContentProblem.UNSUPPORTED and turn.parts == (TextPart("[sticker]"),)
    assert notices_for(single(sticker)) == ()  # the core answers the command
    zh_user = FACTORY.user(42, language_code="zh-hans")
    voice = parsed(FACTORY.voice(user=zh_user))
    assert build_turn(single(voice)).parts == (TextPart("[语音]"),)


def test_unsupported_attachment_with_a_caption_keeps_the_caption() -> None:
    video = parsed(FACTORY.video(caption="it arrived broken"))
    received = single(video)
    turn = build_turn(received)
    assert turn.command is None
    assert turn.parts == (TextPart("it arrived broken"), TextPart("[video]"))
    assert notices_for(received) == ("unsupported_content",)


def test_animation_is_unsupported_not_a_document() -> None:
    data = FACTORY.document("gif1", "video/mp4")
    data["message"]["animation"] = {"file_id": "gif1", "file_unique_id": "ug", "width": 1,
                                    "height": 1, "duration": 1}  # fmt: skip
    assert parsed(data).unsupported == "animation"


def test_group_messages_need_a_mention_or_a_reply_to_the_bot() -> None:
    plain = parsed(FACTORY.group_text("anyone here?"))
    mention = parsed(FACTORY.group_text("what are your hours?", mention=True))
    reply = parsed(FACTORY.reply_to_bot("and on Sunday?", bot_message_id=5001))
    assert not plain.addressed
    assert mention.addressed and mention.text == "what are your hours?"
    assert mention.key == ConversationKey("telegram", "-100123", "")
    assert reply.addressed and reply.reply_to == "-100123:5001"


def test_group_turns_know_they_are_read_by_a_group() -> None:
    group = build_turn(single(parsed(FACTORY.group_text("where is my order?", mention=True))))
    private = build_turn(single(parsed(FACTORY.text("where is my order?"))))
    assert group.audience is Audience.GROUP
    assert private.audience is Audience.PRIVATE


def test_only_forum_topics_become_threads() -> None:
    topic = parsed(
        FACTORY.group_text("hi", mention=True, message_thread_id=77, is_topic_message=True)
    )
    chain = parsed(FACTORY.group_text("hi", mention=True, message_thread_id=78))
    assert topic.key.thread_id == "77"
    assert chain.key.thread_id == ""


def test_button_press_becomes_a_human_command() -> None:
    inbound = parsed(FACTORY.callback("human"))
    assert inbound.command == "human" and inbound.addressed
    assert inbound.message_id.startswith("callback:cbq-")
    assert inbound.callback_query_id is not None
    turn = build_turn(single(inbound))
    assert turn.command == "human" and turn.key.chat_id == "42"
    assert not parsed(FACTORY.callback("something-else")).addressed


def test_bots_and_service_messages_are_ignored() -> None:
    from_bot = FACTORY.text("beep")
    from_bot["message"]["from"] = {"id": 5, "is_bot": True, "first_name": "Other"}
    assert parse(from_bot) is None
    joined = FACTORY.wrap(FACTORY.message(-100123, new_chat_members=[FACTORY.user(9)]))
    assert parse(joined) is None


def test_build_turn_rejects_misaligned_media() -> None:
    inbound = parsed(FACTORY.text("hi"))
    with pytest.raises(ValueError):
        build_turn(Received((inbound,), ()))
