"""HTTP answers for requests that wait for their replies: ``?wait=true`` and SSE.

Both consume a :class:`~adapters.webhook.live.LiveRequest`'s events until the final reply
or ``timeout_s``. ``wait`` answers 200 with every reply (202 if the wait runs out); SSE
writes ``accepted``, ``partial`` (text so far), ``reply`` (each reply), then ``done``
(or ``timeout``), with a keep-alive comment every ``HEARTBEAT_S`` for proxies.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from pydantic import BaseModel

from adapters.webhook.live import LiveEvent, LiveRequest, ReplyBook
from adapters.webhook.schema import (
    AcceptedResponse,
    AnsweredResponse,
    DoneEvent,
    PartialEvent,
    ReplyEvent,
)

HEARTBEAT_S = 15.0
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def json_response(model: BaseModel, status: int) -> web.Response:
    return web.Response(
        status=status, text=model.model_dump_json(), content_type="application/json"
    )


def _sse(name: str, model: BaseModel) -> bytes:
    return f"event: {name}\ndata: {model.model_dump_json()}\n\n".encode()


async def wait_for_replies(
    book: ReplyBook, live: LiveRequest, accepted: AcceptedResponse, timeout_s: float
) -> web.Response:
    """200 with every reply to the turn once the final one is in; 202 after ``timeout_s``."""
    assert live.turn_id is not None
    try:
        async with asyncio.timeout(timeout_s):
            final = False
            while not final:
                event = await live.events.get()  # partial text is of no use here
                final = isinstance(event, ReplyEvent) and event.final
    except TimeoutError:
        return json_response(accepted, 202)  # replies follow by callback, or on a replay
    answered = AnsweredResponse(
        turn_id=live.turn_id,
        duplicate=accepted.duplicate,
        message_id=accepted.message_id,
        replies=book.replies(live.turn_id),
    )
    return json_response(answered, 200)


async def stream_replies(
    request: web.Request, live: LiveRequest, accepted: AcceptedResponse, timeout_s: float
) -> web.StreamResponse:
    """Server-Sent Events for one turn, until its final reply or ``timeout_s``."""
    assert live.turn_id is not None
    turn_id = live.turn_id
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    replies = 0
    with contextlib.suppress(ConnectionResetError):  # the client went away
        await response.write(_sse("accepted", accepted))
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    event = await _next_event(live, response)
                    if isinstance(event, str):
                        await response.write(
                            _sse("partial", PartialEvent(turn_id=turn_id, text=event))
                        )
                        continue
                    replies += 1
                    await response.write(_sse("reply", event))
                    if event.final:
                        await response.write(
                            _sse("done", DoneEvent(turn_id=turn_id, replies=replies))
                        )
                        break
        except TimeoutError:
            await response.write(_sse("timeout", DoneEvent(turn_id=turn_id, replies=replies)))
        await response.write_eof()
    return response


async def _next_event(live: LiveRequest, response: web.StreamResponse) -> LiveEvent:
    while True:
        try:
            return await asyncio.wait_for(live.events.get(), HEARTBEAT_S)
        except TimeoutError:
            await response.write(b": keepalive\n\n")
