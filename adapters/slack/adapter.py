"""The Slack adapter: bolt (async) for inbound events, slack-sdk's AsyncWebClient for output.

People in Slack are staff (:attr:`core.model.turn.Role.STAFF`). The bot answers DMs, mentions
and replies in threads it is in, always in the thread: ``ConversationKey("slack", channel,
thread_ts or ts)``. Inbound events become durable turns before Slack is acknowledged
(see :mod:`adapters.slack.inbound`); answers are delivered by the outbox dispatcher through
:meth:`SlackAdapter.deliver`. :meth:`post_message` and :meth:`upload_image` are the hooks a
handoff service uses to open and feed staff threads.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantView
from adapters.slack.deferred import DeferredFiles, DeferredTimes
from adapters.slack.delivery import SlackDelivery
from adapters.slack.events_http import dispatch_events
from adapters.slack.files import FileFetchPolicy, SlackFileFetcher
from adapters.slack.formatting import (
    SlackOutgoing,
    escape_mrkdwn,
    render,
)
from adapters.slack.inbound import BotIdentity, SlackInbound, SlackInboundHandler
from adapters.slack.native import (
    NativeStreams,
    SlackNativeStream,
    StatusText,
    stream_recipient,
)
from adapters.slack.orphans import PreviewLedger
from adapters.slack.outbound import SlackWebApi, api_call
from adapters.slack.payloads import SlackAction
from adapters.slack.settings import SlackSettings
from adapters.slack.stream import SlackReplyStream, StreamCalls
from adapters.slack.threads import KnownThreads
from adapters.slack.turns import build_turn
from core.errors import ConfigError, PlatformError
from core.model.turn import (
    ConversationKey,
    ImagePart,
    Reply,
    Turn,
)
from core.ports import (
    Adapter,
    AdapterContext,
    Capabilities,
    DeliveryReceipt,
    OutboundMessage,
    ReplyStream,
    StreamRequest,
)


class SlackAdapter(Adapter[SlackInbound | SlackAction, SlackOutgoing]):
    """Slack Events API / Socket Mode adapter.

    Args:
        context: Inbox, shared web app and image limits from the composition root.
        settings: Slack settings.

    Raises:
        ConfigError: a token or secret the chosen mode needs is missing, or HTTP mode
            without the shared web application.
    """

    name: ClassVar[str] = "slack"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, editing=True, images=True, buttons=True, max_message_chars=3900
    )

    def __init__(self, context: AdapterContext, settings: SlackSettings) -> None:
        super().__init__(context)
        self.settings = settings
        self._token = _secret(settings.bot_token, "bot_token")
        receives_http = context.receive and settings.mode == "http"
        if receives_http:
            _secret(settings.signing_secret, "signing_secret")
            if context.web is None:
                raise ConfigError("slack http mode needs the shared web application")
        elif context.receive:
            _secret(settings.app_token, "app_token")
        self._image_limits = context.image_limits
        self.threads = KnownThreads(self.settings.known_threads_max, context.shared)
        self._previews = PreviewLedger(context.shared, self._delete)
        self.bot = BotIdentity("", "", "")
        self._session: aiohttp.ClientSession | None = None
        self._web_api: SlackWebApi | None = None
        self._app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._native = NativeStreams()
        self._delivery = SlackDelivery(settings, self._native, self._previews, self.to_platform)
        self._assistant: AssistantView | None = None
        self.inbound: SlackInboundHandler | None = None
        self.deferred: DeferredFiles | None = None
        if receives_http:
            assert context.web is not None
            context.web.router.add_post(settings.events_path, self._handle_http)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Verify the bot token (``auth.test``) and build the bolt app; in Socket Mode,
        connect (unless this process only delivers).

        Raises:
            AuthenticationError: Slack rejected a token.
            PlatformError: Slack could not be reached.
        """
        token = self._token
        base_url = self.settings.base_url.rstrip("/") + "/"
        self._session = aiohttp.ClientSession()
        timeout = int(max(1, self.settings.http_timeout_s))
        client = AsyncWebClient(
            token=token, base_url=base_url, session=self._session, timeout=timeout
        )
        self._web_api = SlackWebApi(client, self.threads)
        try:
            self.bot = await self._auth_test()
        except BaseException:
            await self.stop()  # nothing is left open when the start fails
            raise
        self._assistant = AssistantView(self._web_api, self.settings)
        fetcher = SlackFileFetcher(
            self._session, self._fetch_policy(token, base_url), self.context.images
        )
        self.deferred = self._late_files(fetcher)
        self.inbound = SlackInboundHandler(
            self.context.inbox,
            fetcher,
            self.bot,
            self.threads,
            self.to_turn,
            self.settings.ack_budget_s,
            on_thread_started=self._assistant.thread_started,
            deferred=self.deferred,
        )
        self._app = self._build_app(self.inbound, base_url, timeout)
        if self.deferred is not None:
            self.deferred.start()  # also resumes turns a killed process left held
        if self.context.receive and self.settings.mode == "socket":
            await self._connect_socket()

    def _late_files(self, fetcher: SlackFileFetcher) -> DeferredFiles | None:
        """Files slower than the ack budget are fetched later where turns can be held."""
        if self.context.held is None or not self.context.receive:
            return None
        settings = self.settings
        times = DeferredTimes(
            settings.deferred_file_timeout_s,
            settings.deferred_file_attempt_s,
            settings.deferred_file_lease_s,
        )
        return DeferredFiles(self.context.held, fetcher, times)

    async def _auth_test(self) -> BotIdentity:
        result = await api_call("auth.test", self.client.auth_test(), startup=True)
        return BotIdentity(
            str(result.get("user_id") or ""),
            str(result.get("bot_id") or ""),
            str(result.get("team_id") or ""),
        )

    def _fetch_policy(self, token: str, base_url: str) -> FileFetchPolicy:
        hosts = set(self.settings.file_hosts)
        base_host = urlsplit(base_url).hostname
        if base_host:
            hosts.add(base_host)
        return FileFetchPolicy(
            token, frozenset(hosts), self.settings.max_file_bytes, self._image_limits
        )

    def _build_app(self, inbound: SlackInboundHandler, base_url: str, timeout: int) -> AsyncApp:
        # Bolt gets a token-less client and our cached auth.test result through `authorize`:
        # no auth.test per event, and a Slack hiccup there cannot turn into a 200 for an
        # event that was never stored.
        bot = self.bot
        token = self.client.token

        async def authorize(**_: Any) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=None, team_id=bot.team_id, bot_user_id=bot.user_id,
                bot_id=bot.bot_id, bot_token=token,
            )  # fmt: skip

        secret = (
            self.settings.signing_secret.get_secret_value() if self.settings.signing_secret else ""
        )
        app = AsyncApp(
            client=AsyncWebClient(base_url=base_url, session=self._session, timeout=timeout),
            signing_secret=secret,
            authorize=authorize,
            process_before_response=True,
            name="kefu-slack",
        )
        inbound.register(app)
        return app

    async def _connect_socket(self) -> None:
        if self._socket is not None:
            return
        app_token = _secret(self.settings.app_token, "app_token")
        app = self.app
        # Open the first connection URL ourselves so a bad app token is a typed error here,
        # not an endless reconnect loop inside the socket client.
        opened = await api_call(
            "apps.connections.open",
            app.client.apps_connections_open(app_token=app_token),
            startup=True,
        )
        self._socket = AsyncSocketModeHandler(app, app_token, web_client=app.client)
        self._socket.client.wss_uri = str(opened.get("url"))
        await self._socket.connect_async()

    async def stop(self) -> None:
        """Disconnect Socket Mode, stop fetching late files and close HTTP sessions.
        Idempotent."""
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close_async()
        if self.deferred is not None:
            await self.deferred.stop()  # still held turns are resumed after their lease
        if self._assistant is not None:
            await self._assistant.close()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    @property
    def client(self) -> AsyncWebClient:
        """The bot-token Web API client."""
        return self.web_api.client

    @property
    def web_api(self) -> SlackWebApi:
        if self._web_api is None:
            raise PlatformError("slack adapter is not initialised")
        return self._web_api

    async def _delete(self, channel: str, ts: str) -> None:
        await self.web_api.delete(channel, ts)

    @property
    def app(self) -> AsyncApp:
        """The bolt app (for tests and Socket Mode)."""
        if self._app is None:
            raise PlatformError("slack adapter is not initialised")
        return self._app

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        """Events API and interactivity: bolt verifies the signature, then runs a listener."""
        return await dispatch_events(self._app, request, self.settings.max_body_bytes)

    # ----------------------------------------------------------------- translation

    def to_turn(self, raw: SlackInbound | SlackAction) -> Turn:
        """Translate a message (with fetched attachments) or a button click into a turn."""
        return build_turn(raw, self.bot.user_id)

    def to_platform(self, reply: Reply) -> list[SlackOutgoing]:
        """Escape and split a reply (``max_message_chars`` each); buttons on the last message."""
        return render(reply.text, reply.buttons, self.settings.max_message_chars)

    # ----------------------------------------------------------------- output

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Send one outbox message into its thread, editing the streamed draft if there is one.

        A retry after a partial failure skips the pieces and images that already went out.

        Raises:
            RateLimitedError: Slack answered 429 (``retry_after`` from ``Retry-After``).
            PermanentDeliveryError: channel gone, bot not in channel, message rejected.
            PlatformError: any other failure (retried by the dispatcher).
        """
        return await self._delivery.deliver(message, self.web_api)

    async def open_stream(self, key: ConversationKey, reply_to: str | None) -> ReplyStream | None:
        """A live preview in the conversation's thread (see :meth:`open_reply_stream`)."""
        return await self.open_reply_stream(StreamRequest(key, reply_to))

    async def open_reply_stream(self, request: StreamRequest) -> ReplyStream | None:
        """The thread's status, then a native streamed reply; a posted draft edited with
        ``chat.update`` when native streaming is off or the stream has no recipient."""
        key = request.key
        thread_ts = key.thread_id or None
        if thread_ts:
            await self.threads.join(key.chat_id, thread_ts)
        answered = request.reply_to or ""
        if answered:
            await self._previews.clear_left_behind(answered)

        async def started(ts: str) -> None:
            if answered:
                await self._previews.record(answered, key.chat_id, ts)

        settings = self.settings
        status = StatusText(settings.status_text, tuple(settings.loading_messages))
        user = request.recipient.user_id if request.recipient is not None else ""
        reachable, recipient = stream_recipient(key.chat_id, user, self.bot.team_id)
        native = settings.native_streaming and reachable
        if thread_ts and (native or not request.preview):
            return SlackNativeStream(
                self.web_api, self._native, key.chat_id, thread_ts,
                recipient=recipient, interval_s=settings.stream_update_interval_s,
                preview=request.preview and native, status=status if settings.status else None,
                on_started=started,
            )  # fmt: skip

        async def post(channel: str, text: str, thread: str | None) -> str:
            ts = await self.web_api.post_preview(channel, text, thread)
            await started(ts)
            return ts

        calls = StreamCalls(post=post, update=self.web_api.update_preview)
        return SlackReplyStream(calls, key.chat_id, thread_ts, settings.stream_update_interval_s)

    async def post_message(
        self,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        *,
        raw_mrkdwn: bool = False,
    ) -> str:
        """Post one message (for the handoff service) and remember its thread.

        Args:
            channel: Channel id.
            text: Plain text, escaped unless ``raw_mrkdwn`` (then sent as trusted mrkdwn,
                e.g. with ``<@U123>`` mentions to ping staff).
            thread_ts: Thread to post into; None for a new top-level message.
            blocks: Block Kit blocks; ``text`` is then the notification fallback.

        Returns:
            The new message's ``ts``; replies in its thread are answered from now on.

        Raises:
            RateLimitedError, PermanentDeliveryError, PlatformError: as for :meth:`deliver`.
        """
        body = text if raw_mrkdwn else escape_mrkdwn(text)
        return await self.web_api.post(channel, SlackOutgoing(body, tuple(blocks or ())), thread_ts)

    async def upload_image(
        self, channel: str, thread_ts: str | None, image: ImagePart, title: str = "image"
    ) -> str:
        """Upload an image into a thread (files.getUploadURLExternal + completeUploadExternal).

        Returns:
            The Slack file id.

        Raises:
            RateLimitedError, PermanentDeliveryError, PlatformError: as for :meth:`deliver`.
        """
        return await self.web_api.upload_image(channel, thread_ts, image, title)


def _secret(value: Any, name: str) -> str:
    if value is None or not value.get_secret_value():
        raise ConfigError(f"slack.{name} is not set (KEFU_SLACK__{name.upper()})")
    return str(value.get_secret_value())
