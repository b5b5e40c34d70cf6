"""Downloading Slack attachments: Bearer token, host allowlist, size caps, HTML refusal, budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.slack.files import FileFetchPolicy, SlackFileFetcher, looks_like_html
from adapters.slack.payloads import SlackFile
from core.errors import FetchError, TransientFetchError
from core.media.images import ImageLimits
from core.model.turn import ImagePart, TextPart
from tests.adapters.slack.conftest import png_bytes
from tests.fakes.slack_server import LOGIN_PAGE, FakeSlack


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def fetcher_for(
    fake: FakeSlack,
    session: aiohttp.ClientSession,
    max_bytes: int = 1_000_000,
    hosts: frozenset[str] = frozenset({"127.0.0.1"}),
) -> SlackFileFetcher:
    return SlackFileFetcher(
        session, FileFetchPolicy(fake.bot_token, hosts, max_bytes, ImageLimits())
    )


def as_file(entry: dict, **changes: object) -> SlackFile:  # type: ignore[type-arg]
    values = {
        "file_id": entry["id"],
        "name": entry["name"],
        "mimetype": entry["mimetype"],
        "size": entry["size"],
        "url": entry["url_private_download"],
        "mode": "hosted",
    }
    values.update(changes)
    return SlackFile(**values)  # type: ignore[arg-type]


async def test_download_sends_the_bearer_token(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    data = png_bytes()
    file = as_file(fake_slack.add_file(data))
    assert await fetcher_for(fake_slack, session).download(file) == data
    assert fake_slack.file_requests[0]["authorization"] == f"Bearer {fake_slack.bot_token}"


async def test_html_login_page_is_refused(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    fake_slack.serve_login_page = True
    file = as_file(fake_slack.add_file(png_bytes()))
    with pytest.raises(FetchError, match="HTML"):
        await fetcher_for(fake_slack, session).download(file)


async def test_html_bytes_with_an_image_content_type_are_refused(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    file = as_file(fake_slack.add_file(b"\n  " + LOGIN_PAGE, "fake.png", "image/png"))
    with pytest.raises(FetchError, match="HTML"):
        await fetcher_for(fake_slack, session).download(file)


async def test_token_is_never_sent_to_other_hosts(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    file = as_file(fake_slack.add_file(png_bytes()))
    fetcher = fetcher_for(fake_slack, session, hosts=frozenset({"files.slack.com"}))
    with pytest.raises(FetchError, match="refusing"):
        await fetcher.download(file)
    with pytest.raises(FetchError):
        await fetcher.download(as_file(fake_slack.add_file(png_bytes()), url="file:///etc/passwd"))
    assert fake_slack.file_requests == []


async def test_declared_size_over_the_cap_is_not_downloaded(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    file = as_file(fake_slack.add_file(png_bytes()), size=5_000_000)
    with pytest.raises(FetchError, match="limit"):
        await fetcher_for(fake_slack, session, max_bytes=1_000_000).download(file)
    assert fake_slack.file_requests == []


async def test_body_over_the_cap_is_cut_off_even_if_size_lied(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    file = as_file(fake_slack.add_file(b"\x89PNG" + b"\0" * 300_000), size=10)
    with pytest.raises(FetchError, match="limit"):
        await fetcher_for(fake_slack, session, max_bytes=100_000).download(file)


async def test_missing_file_is_a_fetch_error(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    entry = fake_slack.add_file(png_bytes())
    file = as_file(entry, url=entry["url_private"].replace(entry["id"], "F404"))
    with pytest.raises(FetchError, match="404"):
        await fetcher_for(fake_slack, session).download(file)


async def test_parts_keep_order_and_turn_failures_into_notes(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    good = as_file(fake_slack.add_file(png_bytes((20, 10))))
    corrupt = as_file(fake_slack.add_file(b"\x89PNG\r\n\x1a\nbroken", "bad.png"))
    pdf = as_file(fake_slack.add_file(b"%PDF", "a.pdf", "application/pdf"))
    gone = as_file(fake_slack.add_file(png_bytes(), "gone.png"), mode="tombstone")
    deadline = asyncio.get_running_loop().time() + 2
    parts = await fetcher_for(fake_slack, session).parts_for([good, corrupt, pdf, gone], deadline)
    assert isinstance(parts[0], ImagePart) and (parts[0].width, parts[0].height) == (20, 10)
    notes = [p.text for p in parts[1:] if isinstance(p, TextPart)]
    assert len(notes) == 3
    assert "bad.png" in notes[0] and "unsupported_image_format" in notes[0]
    assert "a.pdf" in notes[1] and "not supported" in notes[1]
    assert "gone.png" in notes[2] and "did not make the file available" in notes[2]
    assert {r["file_id"] for r in fake_slack.file_requests} == {good.file_id, corrupt.file_id}


async def test_expired_deadline_stores_a_note_without_downloading(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    file = as_file(fake_slack.add_file(png_bytes()))
    past = asyncio.get_running_loop().time() - 1
    [note] = await fetcher_for(fake_slack, session).parts_for([file], past)
    assert isinstance(note, TextPart) and file.file_id in note.text
    assert fake_slack.file_requests == []


def test_looks_like_html() -> None:
    assert looks_like_html(b"  <!DOCTYPE html>") and looks_like_html(b"<HTML><body>")
    assert not looks_like_html(png_bytes()[:32]) and not looks_like_html(b"")


async def test_collect_keeps_a_late_download_running_and_notes_its_place(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    fake_slack.file_delay_s = 0.4
    late = as_file(fake_slack.add_file(png_bytes((20, 10)), "late.png"))
    pdf = as_file(fake_slack.add_file(b"%PDF", "a.pdf", "application/pdf"))
    deadline = asyncio.get_running_loop().time() + 0.1
    collected = await fetcher_for(fake_slack, session).collect(
        [pdf, late], deadline, keep_late=True
    )
    [pdf_note, late_note] = collected.parts
    assert isinstance(pdf_note, TextPart) and "not supported" in pdf_note.text
    assert isinstance(late_note, TextPart) and "acknowledgement budget" in late_note.text
    [pending] = collected.late  # the refusal is not late: it stays a note
    assert pending.index == 1 and pending.file == late and pending.download is not None
    image = await pending.download
    assert (image.width, image.height) == (20, 10)


async def test_collect_without_keep_late_cancels_the_download(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    fake_slack.file_delay_s = 0.4
    file = as_file(fake_slack.add_file(png_bytes()))
    deadline = asyncio.get_running_loop().time() + 0.1
    collected = await fetcher_for(fake_slack, session).collect([file], deadline, keep_late=False)
    assert collected.late == () and "acknowledgement budget" in collected.parts[0].text  # type: ignore[union-attr]


async def test_server_errors_are_transient_and_refusals_are_not(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    entry = fake_slack.add_file(png_bytes())
    fetcher = fetcher_for(fake_slack, session)
    fake_slack.file_status = 503
    with pytest.raises(TransientFetchError, match="503"):
        await fetcher.download(as_file(entry))
    fake_slack.file_status = None
    missing = as_file(entry, url=entry["url_private"].replace(entry["id"], "F404"))
    with pytest.raises(FetchError) as refused:
        await fetcher.download(missing)
    assert not isinstance(refused.value, TransientFetchError)
