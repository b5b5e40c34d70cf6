"""Scripted demo: Telegram, Slack and webhooks answered by one kefu, every message exactly once.

    python -m bench.demo_adapters [--conversations 100]

One kefu (tests/harness.py: real store, worker, dispatcher, StubEngine) runs the three real
adapters at once against the recording fakes in tests/fakes/. Customers send text, photos and
albums (Telegram albums of 2–3 photos, Slack messages with image files, webhook messages with
base64 images) over up to three rounds (each round waits for the answers, as a customer
would), and some platforms deliver a message twice: a Telegram update sent again, a Slack
retry with ``X-Slack-Retry-Num`` (at once or after the answer), a webhook replay with the same
``webhook-id``. Afterwards every reply is checked twice: in the fakes' recordings (the final
texts per Telegram chat, per Slack thread, per webhook conversation) and in the store (one
delivered outbox row per inbox turn). The exit status is 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import Connection, func, select
from standardwebhooks.webhooks import Webhook

from adapters.slack.adapter import SlackAdapter
from adapters.slack.settings import SlackSettings
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSettings
from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.settings import WebhookSettings, WebhookSource
from core.engines.base import GenerationRequest
from core.engines.stub import StubEngine
from core.store.schema import inbox, outbox
from core.store.store import Store
from tests.fakes.callback_receiver import CallbackReceiver
from tests.fakes.slack_server import FakeSlack, event_callback, mention_event, message_event, sign
from tests.fakes.telegram_server import FakeTelegramServer, deliver_like_telegram
from tests.harness import AdapterFactory, KefuHarness

TG_SECRET = "demo-Telegram_secret-token"
SLACK_SECRET = "demo-slack-signing-secret-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"kefu-demo-webhook-secret-012345").decode()
BOT_USER = "UKEFUBOT"
KINDS = ("text", "image", "album")
QUESTIONS = ("where is my order", "is this in stock", "which size fits me", "can I return this",
             "how long is shipping", "is this damaged")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ScriptedMessage:
    """One customer message (an album is one message) and the one reply it must get."""

    platform: str
    conversation: str
    round_no: int
    label: str
    expected_reply: str


@dataclass(frozen=True, slots=True)
class Outcome:
    message: ScriptedMessage
    replies: int  # how often its expected reply was seen


@dataclass(frozen=True, slots=True)
class Tally:
    outcomes: tuple[Outcome, ...]
    unexpected: tuple[str, ...]  # replies no scripted message asked for
    out_of_order: tuple[str, ...]  # conversations whose replies came in another order
    # Albums answered in parts: a reply naming some photos, then replies to the photos that
    # came after the album was stored (no text: the caption is on the first photo), adding
    # up to every photo sent. Nothing lost, but not one answer either.
    split: tuple[str, ...] = ()
    split_parts: int = 0  # the replies (and inbox turns) those later photos got

    @property
    def answered_once(self) -> int:
        return sum(o.replies == 1 for o in self.outcomes)

    @property
    def duplicates(self) -> int:
        return sum(max(0, o.replies - 1) for o in self.outcomes) + len(self.unexpected)

    @property
    def lost(self) -> int:
        split = set(self.split)
        return sum(o.replies == 0 and o.message.label not in split for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class StoreCheck:
    inbox_turns: int
    inbox_not_done: int
    outbox_rows: int
    turns_without_exactly_one_reply: int
    outbox_not_delivered: int
    outbox_rows_of_no_turn: int

    def problems(self, expected_turns: int) -> list[str]:
        found = []
        if self.inbox_turns != expected_turns:
            found.append(f"{self.inbox_turns} inbox turns, expected {expected_turns}")
        for name in ("inbox_not_done", "turns_without_exactly_one_reply", "outbox_not_delivered",
                     "outbox_rows_of_no_turn"):  # fmt: skip
            if getattr(self, name):
                found.append(f"{name.replace('_', ' ')}: {getattr(self, name)}")
        return found


@dataclass
class DemoReport:
    conversations: int
    tally: Tally
    store: StoreCheck
    requests_sent: int
    duplicate_deliveries: int
    elapsed_s: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def tally(scripted: list[ScriptedMessage], replies: dict[str, list[str]]) -> Tally:
    """Match each conversation's replies (as the platform shows them) to its scripted messages."""
    by_conversation: dict[str, list[ScriptedMessage]] = defaultdict(list)
    for message in scripted:
        by_conversation[message.conversation].append(message)
    outcomes, unexpected, out_of_order, split, split_parts = [], [], [], [], 0
    for conversation, messages in by_conversation.items():
        seen = replies.get(conversation, [])
        wanted = [m.expected_reply for m in messages]
        outcomes += [Outcome(m, seen.count(m.expected_reply)) for m in messages]
        strays = [text for text in seen if text not in wanted]
        for message in messages:
            if message.expected_reply not in seen and (used := _answered_in_parts(message, strays)):
                split.append(message.label)
                split_parts += len(used) - 1
                strays = [t for i, t in enumerate(strays) if i not in used]
        unexpected += [f"{conversation}: {text!r}" for text in strays]
        if [t for t in seen if t in wanted] != wanted and all(seen.count(t) == 1 for t in wanted):
            out_of_order.append(conversation)
    unexpected += [f"{c}: {t!r}" for c, texts in replies.items() if c not in by_conversation
                   for t in texts]  # fmt: skip
    return Tally(tuple(outcomes), tuple(unexpected), tuple(out_of_order), tuple(split),
                 split_parts)  # fmt: skip


_ECHO = re.compile(r"Echo: (.*) \[(\d+) image\(s\)\]")


def _answered_in_parts(message: ScriptedMessage, strays: list[str]) -> set[int]:
    """Indexes in ``strays`` of the replies that together answer ``message``'s album: one
    naming its text and fewer photos, and text-less ones for the photos it left out."""
    expected = _ECHO.fullmatch(message.expected_reply)
    if expected is None:
        return set()
    text, photos = expected.group(1), int(expected.group(2))
    found = [(i, _ECHO.fullmatch(t)) for i, t in enumerate(strays)]
    head = next((i for i, m in found if m and m.group(1) == text and int(m.group(2)) < photos),
                None)  # fmt: skip
    if head is None:
        return set()
    used, named = {head}, int(found[head][1].group(2))  # type: ignore[union-attr]
    for i, m in found:
        if m and not m.group(1).strip() and named < photos:
            used.add(i)
            named += int(m.group(2))
    return used if named == photos else set()


def _image(seed: int, fmt: str) -> bytes:
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)  # distinct pictures, distinct sha
    buffer = io.BytesIO()
    Image.new("RGB", (48 + seed % 16, 36), colour).save(buffer, fmt)
    return buffer.getvalue()


def _text(prefix: str, conv: int, index: int) -> str:
    return f"{prefix} c{conv} m{index} {QUESTIONS[(conv + index) % len(QUESTIONS)]}"


def demo_answer(request: GenerationRequest) -> str:
    """The StubEngine's echo, reading a photo's caption when the message has no text part
    (Telegram keeps captions on the image), so every reply names the message it answers."""
    last = next(m for m in reversed(request.messages) if m.role == "user")
    text = last.content_text.strip() or " ".join(i.caption for i in last.images if i.caption)
    return _echo(text, len(last.images))


def _echo(text: str, images: int) -> str:
    return f"Echo: {text}" + (f" [{images} image(s)]" if images else "")


def _label(kind: str, images: int, text: str) -> str:
    return (f"{images} photos: " if kind == "album" else "photo: " if images else "") + text


class Driver(Protocol):
    path: str  # kefu's route for this platform
    url: str
    duplicates: int

    def add(self, conv: int, kinds: list[str], dup: str | None) -> list[ScriptedMessage]: ...
    async def send_round(self, round_no: int) -> tuple[int, list[str]]: ...
    def replies(self) -> dict[str, list[str]]: ...


class TelegramDriver:
    """Private chats; updates are POSTed like Telegram does (per chat one at a time)."""

    path = "/telegram/webhook"

    def __init__(self, tg: FakeTelegramServer, session: aiohttp.ClientSession) -> None:
        self.tg, self.session, self.url = tg, session, ""
        self.rounds: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.chats: dict[str, int] = {}
        self.duplicates = 0

    def _host(self, file_id: str, seed: int) -> None:
        self.tg.add_file(file_id, _image(seed, "JPEG"))
        self.tg.add_file(f"{file_id}-s", _image(seed + 1, "JPEG"))
        self.tg.add_file(f"{file_id}-m", _image(seed + 2, "JPEG"))

    def add(self, conv: int, kinds: list[str], dup: str | None) -> list[ScriptedMessage]:
        chat = 10_000 + conv
        name = f"chat {chat}"
        self.chats[name] = chat
        scripted = []
        for index, kind in enumerate(kinds):
            text, make = _text("tg", conv, index), self.tg.updates
            images = {"text": 0, "image": 1, "album": 2 + (conv + index) % 2}[kind]
            ids = [f"p{conv}-{index}-{k}" for k in range(images)]
            for k, file_id in enumerate(ids):
                self._host(file_id, conv * 10 + index * 3 + k)
            if kind == "text":
                updates = [make.text(text, chat_id=chat)]
            elif kind == "image":
                updates = [make.photo(ids[0], caption=text, chat_id=chat)]
            else:
                updates = make.album(ids, caption=text, chat_id=chat,
                                     media_group_id=f"{conv}{index:02d}")  # fmt: skip
            self.rounds[index].extend(updates)
            if dup is not None and index == 0:  # the same update (an album's last item) again
                self.rounds[index + (dup == "late")].append(updates[-1])
                self.duplicates += 1
            scripted.append(ScriptedMessage("telegram", name, index, _label(kind, images, text),
                                            _echo(text, images)))  # fmt: skip
        return scripted

    async def send_round(self, round_no: int) -> tuple[int, list[str]]:
        updates = self.rounds.get(round_no, [])
        attempts = await deliver_like_telegram(self.session, self.url, TG_SECRET, updates)
        failed = [f"telegram update {a.update_id}: {a.status}" for a in attempts if a.status != 200]
        return len(attempts), failed

    def replies(self) -> dict[str, list[str]]:
        return {name: self.tg.chat_texts(chat) for name, chat in self.chats.items()}


class SlackDriver:
    """DMs (each message in the first message's thread) and channel mentions (message plus
    app_mention events for one message, as Slack sends them); signed Events API posts."""

    path = "/slack/events"

    def __init__(self, fake: FakeSlack, session: aiohttp.ClientSession) -> None:
        self.fake, self.session, self.url = fake, session, ""
        self.rounds: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
        self.threads: dict[str, tuple[str, str]] = {}
        self.duplicates = 0

    def add(self, conv: int, kinds: list[str], dup: str | None) -> list[ScriptedMessage]:
        in_channel = conv % 2 == 0
        channel = f"{'C' if in_channel else 'D'}{conv:05d}"
        root = f"{1_700_200_000 + conv * 10}.000100"
        name = f"{channel} thread {root}"
        self.threads[name] = (channel, root)
        scripted = []
        for index, kind in enumerate(kinds):
            text = _text("sl", conv, index)
            images = {"text": 0, "image": 1, "album": 2}[kind]
            files = [self.fake.add_file(_image(conv * 10 + index * 3 + k, "PNG"), f"p{k}.png")
                     for k in range(images)] or None  # fmt: skip
            ts = root if index == 0 else f"{1_700_200_000 + conv * 10 + index}.000100"
            thread = None if index == 0 else root
            events = []
            if in_channel and index == 0:
                sent = f"<@{BOT_USER}> {text}"
                mention = mention_event(channel, f"U{conv}", sent, ts)
                if files:
                    mention["files"] = files
                events = [message_event(channel, f"U{conv}", sent, ts, channel_type="channel",
                                        files=files), mention]  # fmt: skip
                self.duplicates += 1  # one message, two event kinds
            else:
                kind_of = "channel" if in_channel else "im"
                events = [message_event(channel, f"U{conv}", text, ts, channel_type=kind_of,
                                        thread_ts=thread, files=files)]  # fmt: skip
            bodies = [json.dumps(event_callback(e)) for e in events]
            self.rounds[index] += [(body, None) for body in bodies]
            if dup is not None and index == 0:  # Slack retries the first event delivery
                self.rounds[index + (dup == "late")].append((bodies[0], 1 if dup == "now" else 2))
                self.duplicates += 1
            scripted.append(ScriptedMessage("slack", name, index, _label(kind, images, text),
                                            _echo(text, images)))  # fmt: skip
        return scripted

    async def _post(self, body: str, retry_num: int | None) -> int:
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": sign(SLACK_SECRET, ts, body)}  # fmt: skip
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            await response.read()
            return response.status

    async def send_round(self, round_no: int) -> tuple[int, list[str]]:
        posts = self.rounds.get(round_no, [])
        statuses = await asyncio.gather(*(self._post(b, n) for b, n in posts))
        return len(posts), [f"slack event: {s}" for s in statuses if s != 200]

    def replies(self) -> dict[str, list[str]]:
        return {n: [m.text for m in self.fake.thread(*t)] for n, t in self.threads.items()}


class WebhookDriver:
    """Standard-Webhooks-signed POSTs (signed by the reference library); replies are callbacks."""

    path = "/webhooks/shop"

    def __init__(self, receiver: CallbackReceiver, session: aiohttp.ClientSession) -> None:
        self.receiver, self.session, self.url = receiver, session, ""
        self.rounds: dict[int, list[tuple[str, str]]] = defaultdict(list)
        self.conversations: set[str] = set()
        self.signer = Webhook(WEBHOOK_SECRET)
        self.duplicates = 0

    def add(self, conv: int, kinds: list[str], dup: str | None) -> list[ScriptedMessage]:
        conversation = f"wh-{conv:03d}"
        self.conversations.add(conversation)
        scripted = []
        for index, kind in enumerate(kinds):
            text = _text("wh", conv, index)
            images = {"text": 0, "image": 1, "album": 2}[kind]
            body: dict[str, Any] = {"conversation_id": conversation, "text": text,
                                    "user": {"id": f"cust-{conv}", "name": f"Customer {conv}"}}  # fmt: skip
            if images:
                body["images"] = [
                    {"base64": base64.b64encode(_image(conv * 10 + index * 3 + k, "PNG")).decode()}
                    for k in range(images)
                ]
            webhook_id = f"msg_demo_{conv}_{index}"
            self.rounds[index].append((webhook_id, json.dumps(body)))
            if dup is not None and index == 0:  # the sender replays the same webhook-id
                self.rounds[index + (dup == "late")].append((webhook_id, json.dumps(body)))
                self.duplicates += 1
            scripted.append(ScriptedMessage("webhook", conversation, index,
                                            _label(kind, images, text), _echo(text, images)))  # fmt: skip
        return scripted

    async def _post(self, webhook_id: str, body: str) -> int:
        now = datetime.now(UTC)
        headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": self.signer.sign(webhook_id, now, body)}  # fmt: skip
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            await response.read()
            return response.status

    async def send_round(self, round_no: int) -> tuple[int, list[str]]:
        posts = self.rounds.get(round_no, [])
        statuses = await asyncio.gather(*(self._post(i, b) for i, b in posts))
        return len(posts), [f"webhook post: {s}" for s in statuses if s != 202]

    def replies(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {c: [] for c in self.conversations}
        for call in self.receiver.delivered:
            found.setdefault(str(call.body.get("conversation_id")), []).append(call.body["text"])
        return found

    def problems(self) -> list[str]:
        ids = [c.webhook_id for c in self.receiver.delivered]
        found = [f"callback {c.webhook_id} answered {c.answered}"
                 for c in self.receiver.calls if c not in self.receiver.delivered]  # fmt: skip
        return found + ([] if len(set(ids)) == len(ids) else ["a callback id was delivered twice"])


async def check_store(store: Store) -> StoreCheck:
    """Inbox and outbox as the store sees them: one delivered reply row per inbox turn."""
    per_turn_query = select(outbox.c.turn_id, func.count()).group_by(outbox.c.turn_id)
    status_query = select(outbox.c.status, func.count()).group_by(outbox.c.status)

    def read(conn: Connection) -> tuple[list[Any], dict[int | None, int], dict[str, int]]:
        return (conn.execute(select(inbox.c.turn_id, inbox.c.status)).all(),
                {t: n for t, n in conn.execute(per_turn_query)},
                {s: n for s, n in conn.execute(status_query)})  # fmt: skip

    rows, per_turn, statuses = await store.db.read(read)
    turn_ids = {r.turn_id for r in rows}
    return StoreCheck(
        inbox_turns=len(rows),
        inbox_not_done=sum(r.status != "done" for r in rows),
        outbox_rows=sum(statuses.values()),
        turns_without_exactly_one_reply=sum(per_turn.get(t, 0) != 1 for t in turn_ids),
        outbox_not_delivered=sum(n for s, n in statuses.items() if s != "delivered"),
        outbox_rows_of_no_turn=sum(n for t, n in per_turn.items() if t not in turn_ids),
    )


async def _settle(harness: KefuHarness, expected_turns: int, timeout_s: float) -> None:
    """Wait until the inbox holds ``expected_turns`` (albums arrive after their debounce) and
    everything in it is answered and delivered."""
    assert harness.store is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = await harness.store.counts()
        if sum(n for k, n in counts.items() if k.startswith("inbox.")) >= expected_turns:
            break
        await asyncio.sleep(0.05)
    await harness.wait_until_idle(timeout=max(1.0, deadline - time.monotonic()))


def plan(conversations: int, drivers: dict[str, Driver]) -> list[ScriptedMessage]:
    """Spread conversations over the platforms: 1–3 messages each, kinds rotating, and a
    duplicate delivery (at once, or after the answer) in every other group of three."""
    platforms = list(drivers)
    scripted: list[ScriptedMessage] = []
    for conv in range(conversations):
        group = conv // len(platforms)
        kinds = [KINDS[(group + i) % len(KINDS)] for i in range(1 + group % 3)]
        dup = {1: "now", 3: "late"}.get(group % 4)
        scripted += drivers[platforms[conv % len(platforms)]].add(conv, kinds, dup)
    return scripted


def _factories(
    tg: FakeTelegramServer, slack: FakeSlack, receiver: CallbackReceiver, folder: str,
    album_debounce_s: float,
) -> dict[str, AdapterFactory]:  # fmt: skip
    """The three real adapters, pointed at the fakes, with short (demo) pacing intervals."""
    telegram = TelegramSettings(
        bot_token=SecretStr(tg.token), mode="webhook", webhook_secret=SecretStr(TG_SECRET),
        webhook_url="https://kefu.example.com", base_url=tg.base_url, base_file_url=tg.file_url,
        album_debounce_s=album_debounce_s, stream_edit_interval_s=0.2, typing_interval_s=1.0,
        album_journal_path=str(Path(folder) / "albums.db"),
    )  # fmt: skip
    slack_settings = SlackSettings(
        bot_token=SecretStr(slack.bot_token), signing_secret=SecretStr(SLACK_SECRET),
        base_url=slack.api_url, stream_update_interval_s=0.2, http_timeout_s=5,
    )  # fmt: skip
    source = WebhookSource(secret=SecretStr(WEBHOOK_SECRET), callback_url=receiver.url)
    webhook = WebhookSettings(sources={"shop": source}, callback_retry_schedule_s=[0, 0.2, 0.5])
    return {
        "telegram": lambda ctx: TelegramAdapter(ctx, telegram),
        "slack": lambda ctx: SlackAdapter(ctx, slack_settings),
        "webhook": lambda ctx: WebhookAdapter(ctx, webhook),
    }


async def _drive(
    harness: KefuHarness, drivers: dict[str, Driver], scripted: list[ScriptedMessage],
    album_debounce_s: float,
) -> tuple[int, list[str]]:  # fmt: skip
    """Send round after round (late duplicates last), each answered before the next."""
    for driver in drivers.values():
        driver.url = harness.base_url + driver.path
    sent, problems = 0, []
    last_round = max(m.round_no for m in scripted) + 1
    for round_no in range(last_round + 1):
        results = await asyncio.gather(*(d.send_round(round_no) for d in drivers.values()))
        sent += sum(n for n, _ in results)
        problems += [p for _, found in results for p in found]
        await _settle(harness, sum(m.round_no <= round_no for m in scripted), timeout_s=30)
    await asyncio.sleep(album_debounce_s * 2)  # a stray album turn from a duplicate shows now
    await harness.wait_until_idle(timeout=30)
    return sent, problems


async def run_demo(
    conversations: int = 100, album_debounce_s: float = 0.5
) -> tuple[DemoReport, dict[str, list[str]]]:
    """Run the whole demo; returns the report and every conversation's replies.

    ``album_debounce_s`` is shorter than Telegram's usual 1.5 s to keep the demo quick, and
    still long enough for album items that are POSTed one after another (as Telegram does).
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kefu-demo-") as folder:
        async with (FakeTelegramServer() as tg, FakeSlack() as slack,
                    CallbackReceiver(WEBHOOK_SECRET) as receiver,
                    aiohttp.ClientSession() as session):  # fmt: skip
            webhook = WebhookDriver(receiver, session)
            drivers: dict[str, Driver] = {"telegram": TelegramDriver(tg, session),
                                          "slack": SlackDriver(slack, session), "webhook": webhook}  # fmt: skip
            scripted = plan(conversations, drivers)
            factories = _factories(tg, slack, receiver, folder, album_debounce_s)
            async with KefuHarness(engine=StubEngine(demo_answer), adapters=factories) as harness:
                sent, problems = await _drive(harness, drivers, scripted, album_debounce_s)
                assert harness.store is not None
                store = await check_store(harness.store)
            replies: dict[str, list[str]] = {}
            for driver in drivers.values():
                replies |= driver.replies()
            problems += webhook.problems()
    result = tally(scripted, replies)
    problems += store.problems(len(scripted))
    problems += [f"unexpected reply {u}" for u in result.unexpected]
    problems += [f"out of order: {c}" for c in result.out_of_order]
    problems += [f"{o.replies} replies to {o.message.conversation}: {o.message.label!r}"
                 for o in result.outcomes if o.replies != 1]  # fmt: skip
    repeats = sum(d.duplicates for d in drivers.values())
    elapsed = time.monotonic() - started
    return DemoReport(conversations, result, store, sent, repeats, elapsed, problems), replies


def render(report: DemoReport) -> str:
    """The table of where each reply went, then the summary lines."""
    lines = [f"{'platform':<9} {'conversation':<32} {'inbound message':<52} {'reply':<44} answered"]
    for outcome in report.tally.outcomes:
        m = outcome.message
        answered = {0: "LOST", 1: "once"}.get(outcome.replies, f"{outcome.replies} TIMES")
        lines.append(f"{m.platform:<9} {m.conversation:<32} {m.label[:52]:<52} "
                     f"{m.expected_reply[:44]:<44} {answered}")  # fmt: skip
    t, s, messages = report.tally, report.store, len(report.tally.outcomes)
    lines += [
        "",
        f"{report.requests_sent} platform deliveries, {report.duplicate_deliveries} of them "
        f"repeats (redeliveries, retries, replays, message+app_mention pairs); "
        f"{report.elapsed_s:.1f} s",
        f"store: {s.inbox_turns} inbox turns ({s.inbox_not_done} not done), {s.outbox_rows} "
        f"outbox rows, {s.turns_without_exactly_one_reply} turns without exactly one, "
        f"{s.outbox_not_delivered} undelivered",
        f"{report.conversations} conversations, {messages} messages, {t.answered_once} answered "
        f"exactly once, {t.duplicates} duplicates, {t.lost} lost",
    ]
    lines += [f"PROBLEM: {p}" for p in report.problems]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    args = parser.parse_args()
    report, _ = asyncio.run(run_demo(args.conversations))
    print(render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
