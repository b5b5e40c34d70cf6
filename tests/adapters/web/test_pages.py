"""The chat page and the operator desk in a real browser (headless Chromium).

The engine is the instant stub (text-only behind the OCR wrapper where a photo must be
read), so what is checked is the pages and the pipeline behind them; ``test_real_model``
at the end runs the embedded model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from core.engines.base import GenerationRequest
from core.engines.ocr_wrapper import OcrTextEngine
from core.engines.stub import StubEngine
from core.media.ocr import OcrReader
from tests.adapters.web.browser import browser, screenshot_path
from tests.adapters.web.kefu import DATA, TOKEN, WebKefu, web_kefu

pytestmark = pytest.mark.browser

LONG_ANSWER = " ".join(f"word{i}" for i in range(40))
WAIT_MS = 15_000


class TextOnlyStub(StubEngine):
    """The stub as a text-only model: photos reach it as OCR text, like the embedded model."""

    supports_images = False


def long_answer(request: GenerationRequest) -> str:
    return f"Here is the answer: {LONG_ANSWER}"


def order_answer(request: GenerationRequest) -> str:
    """What a model that read the photo's text would say: the order number it saw."""
    seen = request.messages[-1].content_text
    found = re.search(r"SO\d{8}-\d{4}", seen)
    number = found.group(0) if found else "no order number"
    return f"I can read order {number} in your screenshot. It says the order has shipped."


async def chat_page(context: Any, kefu: WebKefu) -> Any:
    page = await context.new_page()
    await page.goto(kefu.url + "/")
    await page.wait_for_selector("body[data-ready='1']")
    return page


async def send(page: Any, words: str) -> None:
    await page.fill("#text", words)
    await page.keyboard.press("Enter")


async def watch_drafts(page: Any) -> None:
    """Record every text a draft bubble shows while the answer is written."""
    await page.evaluate(
        """() => {
            window.kefuDrafts = [];
            new MutationObserver(() => {
                document.querySelectorAll(".msg.thinking .body").forEach((b) => {
                    if (b.textContent) window.kefuDrafts.push(b.textContent);
                });
            }).observe(document.getElementById("log"),
                       {subtree: true, childList: true, characterData: true});
        }"""
    )


async def ops_page(context: Any, kefu: WebKefu) -> Any:
    page = await context.new_page()
    response = await page.goto(kefu.url + "/ops")
    assert response.status == 401  # the sign-in form, nothing else
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_selector("body[data-ready='1']")
    return page


async def test_a_question_gets_a_streamed_answer(tmp_path: Path) -> None:
    engine = StubEngine(long_answer, token_delay_s=0.04)
    async with web_kefu(engine) as kefu, browser() as chromium:
        context = await chromium.new_context()
        page = await chat_page(context, kefu)
        assert "AI assistant" in await page.inner_text("#ai-note")
        await watch_drafts(page)
        await send(page, "Do you ship to Shanghai?")
        assert await page.inner_text(".msg.customer .body") == "Do you ship to Shanghai?"
        final = page.locator(".msg.bot:not(.thinking) .body", has_text="word39")
        await final.wait_for(timeout=WAIT_MS)
        text = await final.inner_text()
        assert text == long_answer(None)  # type: ignore[arg-type]
        # While it was written, the answer grew in place (the draft bubble), then the final
        # answer replaced it: one bubble.
        drafts = [d.strip() for d in await page.evaluate("window.kefuDrafts")]
        assert len(set(drafts)) > 2 and all(text.startswith(d) for d in drafts), drafts
        assert min(len(d) for d in drafts) < len(text)
        assert await page.locator(".msg.bot").count() == 1
        # History is kept across a reload.
        await page.reload()
        await page.wait_for_selector("body[data-ready='1']")
        bodies = await page.locator(".msg .body").all_inner_texts()
        assert bodies == ["Do you ship to Shanghai?", text]


async def test_an_order_screenshot_gets_an_answer_that_uses_its_text(tmp_path: Path) -> None:
    engine = OcrTextEngine(TextOnlyStub(order_answer), OcrReader())
    async with web_kefu(engine) as kefu, browser() as chromium:
        context = await chromium.new_context(viewport={"width": 900, "height": 760})
        page = await chat_page(context, kefu)
        await page.set_input_files("#files", str(DATA / "order_screenshot.png"))
        assert await page.locator(".preview img").count() == 1
        await send(page, "When will this order ship?")
        answer = page.locator(".msg.bot .body", has_text="SO20261102-0042")
        await answer.wait_for(timeout=60_000)  # the first photo loads the OCR model
        assert "has shipped" in await answer.inner_text()
        assert await page.locator(".msg.customer img").count() == 1
        await page.screenshot(path=str(screenshot_path("chat-photo.png", tmp_path)))


async def test_several_photos_by_picker_drop_and_paste_with_previews(tmp_path: Path) -> None:
    async with web_kefu(StubEngine()) as kefu, browser() as chromium:
        page = await chat_page(await chromium.new_context(), kefu)
        png = (DATA / "price_tag.png").read_bytes()
        await page.set_input_files("#files", str(DATA / "product_label.png"))
        for event in ("drop", "paste"):
            await page.evaluate(
                """([bytes, kind]) => {
                    const file = new File([new Uint8Array(bytes)], kind + ".png", {type: "image/png"});
                    const data = new DataTransfer();
                    data.items.add(file);
                    const event = kind === "drop"
                        ? new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true})
                        : new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true});
                    (kind === "drop" ? window : document).dispatchEvent(event);
                }""",
                [list(png), event],
            )
        assert await page.locator(".preview img").count() == 3
        await page.click(".preview:nth-child(3) button")  # remove the pasted one
        assert await page.locator(".preview img").count() == 2
        await send(page, "Which one is cheaper?")
        await page.locator(".msg.bot .body", has_text="[2 image(s)]").wait_for(timeout=WAIT_MS)
        assert await page.locator(".preview img").count() == 0


async def test_talk_to_a_person_reply_from_ops_and_back_to_the_bot(tmp_path: Path) -> None:
    async with web_kefu(StubEngine()) as kefu, browser() as chromium:
        chat = await chat_page(await chromium.new_context(), kefu)
        ops = await ops_page(
            await chromium.new_context(viewport={"width": 1280, "height": 900}), kefu
        )
        await send(chat, "My parcel is late")
        await chat.locator(".msg.bot .body", has_text="Echo: My parcel is late").wait_for()
        await chat.click("#human")
        await chat.locator("#state").filter(has_text="queue").wait_for(timeout=WAIT_MS)
        await chat.locator(".msg.bot .body", has_text="passed your conversation").wait_for()
        # The case appears on the desk, live.
        case = ops.locator("#q-waiting .item", has_text="web")
        await case.wait_for(timeout=WAIT_MS)
        await case.click()
        await ops.locator("#case-turns .turn.customer", has_text="My parcel is late").wait_for()
        await ops.fill("#name", "Mei")
        await ops.dispatch_event("#name", "change")
        await ops.locator("#case [data-action=take]:not([disabled])").click()
        await ops.locator("#q-taken .item", has_text="Mei").wait_for(timeout=WAIT_MS)
        await ops.fill("#reply-text", "Hello from the shop, your parcel left today.")
        await ops.click("#reply button[type=submit]")
        # The staff words reach the chat page, live.
        staff = chat.locator(".msg.staff .body", has_text="Hello from the shop")
        await staff.wait_for(timeout=WAIT_MS)
        await chat.locator("#state").filter(has_text="replying").wait_for()
        await ops.locator("#case-turns .turn.staff", has_text="Hello from the shop").wait_for()
        await ops.screenshot(path=str(screenshot_path("ops-desk.png", tmp_path)), full_page=True)
        # Returned to the bot: the bot answers again.
        await ops.click("#case [data-action=return]")
        await chat.locator(".msg.bot .body", has_text="talking to the shop assistant").wait_for(
            timeout=WAIT_MS
        )
        await chat.locator("#state").wait_for(state="hidden")
        await send(chat, "thanks, one more question")
        await chat.locator(".msg.bot .body", has_text="Echo: thanks, one more question").wait_for(
            timeout=WAIT_MS
        )
        await ops.locator("#q-resolved .item", has_text="returned").wait_for(timeout=WAIT_MS)


async def test_the_desk_without_the_token_is_refused_and_shows_no_customer_data() -> None:
    async with web_kefu(StubEngine()) as kefu, browser() as chromium:
        chat = await chat_page(await chromium.new_context(), kefu)
        await send(chat, "my secret address is 7 Plum Lane")
        await chat.locator(".msg.bot .body", has_text="Plum Lane").wait_for()
        await chat.click("#human")
        await chat.locator("#state").filter(has_text="queue").wait_for(timeout=WAIT_MS)
        stranger = await (await chromium.new_context()).new_page()
        response = await stranger.goto(kefu.url + "/ops")
        assert response.status == 401
        assert "Plum Lane" not in await stranger.content()
        api = await stranger.request.get(kefu.url + "/ops/api/handoffs")
        assert api.status == 401 and "Plum" not in await api.text()
        await stranger.fill("#token", "not-the-token")
        await stranger.click("button[type=submit]")
        assert await stranger.locator("#refused").is_visible()
        assert "Plum Lane" not in await stranger.content()


async def test_chinese_on_a_phone_by_keyboard_alone(tmp_path: Path) -> None:
    async with web_kefu(StubEngine()) as kefu, browser() as chromium:
        context = await chromium.new_context(
            locale="zh-CN", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
        )
        page = await chat_page(context, kefu)
        assert await page.inner_text("h1") == "店铺客服"
        assert await page.inner_text("#human") == "转人工"
        assert "AI" in await page.inner_text("#ai-note")
        overflow = await page.evaluate(
            "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await page.keyboard.type("请问什么时候发货？")  # the box has the focus on load
        await page.keyboard.press("Enter")
        await page.locator(".msg.bot .body", has_text="请问什么时候发货").wait_for(timeout=WAIT_MS)
        # Tab reaches the buttons; Enter on "转人工" hands over.
        for _ in range(10):
            await page.keyboard.press("Shift+Tab")
            if await page.evaluate("document.activeElement.id") == "human":
                break
        assert await page.evaluate("document.activeElement.id") == "human"
        await page.keyboard.press("Enter")
        await page.locator("#state").filter(has_text="人工").wait_for(timeout=WAIT_MS)
        notice = page.locator(".msg.bot .body", has_text="已为您转接人工客服")  # in Chinese
        await notice.wait_for(timeout=WAIT_MS)
        await page.screenshot(path=str(screenshot_path("chat-phone-zh.png", tmp_path)))


async def test_the_desk_tabs_conversations_system_and_playground(tmp_path: Path) -> None:
    async with web_kefu(StubEngine()) as kefu, browser() as chromium:
        chat = await chat_page(await chromium.new_context(), kefu)
        await send(chat, "Do you have linen shirts?")
        await chat.locator(".msg.bot .body", has_text="Echo: Do you have").wait_for()
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        ops = await ops_page(context, kefu)
        ops.on("pageerror", lambda error: errors.append(str(error)))
        await ops.click("[data-tab=conversations]")
        await ops.locator("#conv-list .item", has_text="web").click()
        answer = ops.locator("#conv-turns .turn.customer .decision", has_text="confidence")
        await answer.wait_for()
        assert "logprob_mean" in await answer.inner_text()
        await ops.select_option("#f-state", "handoff")
        await ops.locator("#conv-list", has_text="Nothing here").wait_for()
        await ops.click("[data-tab=system]")
        await ops.locator("#sys-engine", has_text="kefu-stub").wait_for()
        assert "inbox.done" in await ops.inner_text("#sys-queues")
        await ops.click("[data-tab=playground]")
        await ops.fill("#play-text", "Which of these is cheaper?")
        await ops.set_input_files(
            "#play-files", [str(DATA / "price_tag.png"), str(DATA / "product_label.png")]
        )
        await ops.fill("#play-max", "5")
        await ops.click("#play button[type=submit]")
        await ops.locator("#play-raw", has_text="Echo: Which of").wait_for()
        assert await ops.inner_text("#play-final") == await ops.inner_text("#play-raw")
        assert "answer" in (await ops.inner_text("#play-why")).lower()
        await ops.click("#lang")
        assert await ops.inner_text("[data-tab=playground]") == "试验台"
        assert errors == []


async def test_the_desk_shows_the_shop_bots_confidence_grounding_and_facts(
    tmp_path: Path,
) -> None:
    from bots.shop.brain import build_brain
    from core.answering.prompt_brain import PromptBrain
    from core.model.turn import Role

    brains = {Role.CUSTOMER: build_brain(ocr=None), Role.STAFF: PromptBrain()}
    engine = StubEngine(lambda request: "The Linen Casual Shirt is made of linen.")
    async with web_kefu(engine, brains) as kefu, browser() as chromium:
        chat = await chat_page(await chromium.new_context(), kefu)
        await send(chat, "What is the Linen Casual Shirt made of?")
        await chat.locator(".msg.bot:not(.thinking) .body").first.wait_for(timeout=WAIT_MS)
        ops = await ops_page(
            await chromium.new_context(viewport={"width": 1280, "height": 900}), kefu
        )
        await ops.click("[data-tab=conversations]")
        await ops.locator("#conv-list .item", has_text="web").click()
        decision = ops.locator("#conv-turns .turn.customer .decision").first
        await decision.wait_for()
        shown = await decision.inner_text()
        assert "grounding" in shown and "retrieval" in shown and "confidence" in shown
        await decision.locator("details summary").click()  # the retrieved facts
        assert "catalog:" in await decision.inner_text() or "faq:" in await decision.inner_text()
        await ops.screenshot(path=str(screenshot_path("ops-conversation.png", tmp_path)))


@pytest.mark.slow
async def test_the_real_model_streams_and_reads_a_photo(tmp_path: Path) -> None:
    import main

    settings = main.load_settings()
    engine = main.build_engine(settings, main.ocr_reader(settings))
    async with web_kefu(engine) as kefu, browser() as chromium:
        context = await chromium.new_context(viewport={"width": 900, "height": 760})
        page = await chat_page(context, kefu)
        await watch_drafts(page)
        await send(page, "Write two sentences about cotton shirts.")
        final = page.locator(".msg.bot:not(.thinking) .body").first
        await final.wait_for(timeout=180_000)
        text = (await final.inner_text()).strip()
        drafts = await page.evaluate("window.kefuDrafts")
        assert text and any(0 < len(d.strip()) < len(text) for d in drafts), drafts
        await page.set_input_files("#files", str(DATA / "order_screenshot.png"))
        await send(page, "What is the order number in this screenshot?")
        answer = page.locator(".msg.bot:not(.thinking) .body").nth(1)
        await answer.wait_for(timeout=300_000)
        words = await answer.inner_text()
        await page.screenshot(path=str(screenshot_path("chat-photo-real-model.png", tmp_path)))
    # Only the photo holds these: the answer was written from the text OCR read in it.
    from_photo = ("SO20261102", "0042", "2026-11-02", "456", "299", "Wang", "Earbuds", "Shipped")
    assert any(piece in words for piece in from_photo), words
