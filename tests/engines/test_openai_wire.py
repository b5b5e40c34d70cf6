"""Tests for core.engines.openai_wire: request bodies, SSE decoding, chunks and error bodies."""

from __future__ import annotations

import base64
import math

import pytest

from core.engines.base import ChatMessage, GenerationRequest
from core.engines.openai_wire import (
    SseDecoder,
    decode_event,
    first_choice,
    http_error,
    message_payload,
    parse_logprobs,
    parse_usage,
    request_payload,
    server_message,
)
from core.errors import EngineError, EngineOverloadedError
from core.model.turn import ImagePart, TextPart


def test_text_messages_are_plain_strings() -> None:
    message = ChatMessage("user", (TextPart("line one"), TextPart("line two")))
    assert message_payload(message) == {"role": "user", "content": "line one\nline two"}


def test_image_messages_are_part_lists_with_data_uri_and_caption() -> None:
    photo = ImagePart.from_normalised(b"\x89PNG-bytes", "image/png", 4, 3, caption="broken lid")
    payload = message_payload(ChatMessage("user", (photo, TextPart("see photo"))))
    url = payload["content"][0]["image_url"]["url"]
    assert url == "data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode()
    assert payload["content"][1:] == [
        {"type": "text", "text": "broken lid"},
        {"type": "text", "text": "see photo"},
    ]


def test_request_payload_maps_every_generation_field() -> None:
    request = GenerationRequest(
        (ChatMessage.text("user", "hi"),), max_new_tokens=9, temperature=0.5, top_p=0.9,
        stop=("END",), top_logprobs=4, seed=3,
    )  # fmt: skip
    body = request_payload(request, "kefu")
    assert body == {
        "model": "kefu",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 9,
        "temperature": 0.5,
        "top_p": 0.9,
        "logprobs": True,
        "top_logprobs": 4,
        "stop": ["END"],
        "seed": 3,
    }


def test_parse_logprobs_reads_tokens_and_alternatives() -> None:
    block = {
        "content": [
            {"token": "Hi", "logprob": -0.5, "top_logprobs": [{"token": "Hi", "logprob": -0.5}]},
            {"token": "!", "logprob": "-Infinity", "top_logprobs": None},
        ]
    }
    parsed = parse_logprobs(block)
    assert (parsed[0].token, parsed[0].logprob, parsed[0].top) == ("Hi", -0.5, (("Hi", -0.5),))
    assert parsed[1].logprob == -math.inf and parsed[1].top == ()
    assert parse_logprobs(None) == () and parse_logprobs({"content": None}) == ()
    with pytest.raises(EngineError, match="bad logprobs"):
        parse_logprobs({"content": [{"logprob": -1}]})


def test_parse_usage() -> None:
    usage = parse_usage({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
    assert usage is not None and usage.total_tokens == 7
    assert parse_usage(None) is None
    with pytest.raises(EngineError, match="bad usage"):
        parse_usage({"prompt_tokens": 3})


def test_decode_event_and_first_choice() -> None:
    event = decode_event('{"choices": [{"delta": {"content": "x"}}]}')
    assert first_choice(event) == {"delta": {"content": "x"}}
    assert first_choice(decode_event('{"choices": [], "usage": {}}')) is None
    with pytest.raises(EngineError, match="not JSON"):
        decode_event("{oops")
    with pytest.raises(EngineError, match="not an object"):
        decode_event("[1]")
    with pytest.raises(EngineError, match="bad choices"):
        first_choice({"choices": ["x"]})
    with pytest.raises(EngineError, match="server reported an error: boom"):
        decode_event('{"error": {"message": "boom"}}')


def test_sse_decoder_joins_data_lines_and_skips_comments() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b": ping\r\n") is None
    assert decoder.feed(b"id: 7\n") is None
    assert decoder.feed(b"data: line one\r\n") is None
    assert decoder.feed(b"data:line two\n") is None
    assert decoder.feed(b"\n") == "line one\nline two"
    assert decoder.feed(b"\n") is None  # blank line without data: no event
    assert decoder.feed("data: 订单\n".encode()) is None
    assert decoder.flush() == "订单"  # end of stream completes the last event


def test_sse_decoder_rejects_non_sse_lines_and_raises_on_error_events() -> None:
    with pytest.raises(EngineError, match="not an SSE line"):
        SseDecoder().feed(b'{"choices": []}\n')
    decoder = SseDecoder()
    decoder.feed(b"event: error\n")
    decoder.feed(b'data: {"message": "overloaded"}\n')
    with pytest.raises(EngineError, match="overloaded"):
        decoder.feed(b"\n")


def test_server_message_understands_common_error_shapes() -> None:
    assert server_message('{"error": {"message": "bad model"}}') == "bad model"
    assert server_message('{"error": "plain"}') == "plain"
    assert server_message('{"detail": "Not Found"}') == "Not Found"
    assert server_message("<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    assert server_message("") == "(empty body)"
    assert len(server_message("x" * 10_000)) == 2000


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, EngineOverloadedError, "engine_overloaded"),
        (503, EngineOverloadedError, "engine_overloaded"),
        (400, EngineError, "engine_bad_request"),
        (401, EngineError, "engine_auth_failed"),
        (404, EngineError, "engine_not_found"),
        (502, EngineError, "engine_http_error"),
    ],
)
def test_http_error_mapping(status: int, kind: type[EngineError], code: str) -> None:
    error = http_error(status, "why")
    assert type(error) is kind and error.code == code
    assert f"HTTP {status}: why" in error.message
