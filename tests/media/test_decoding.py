"""Decoding processes: same results as in the server, errors keep their type, deaths heal."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from core.errors import ImageError, UnsupportedImageFormatError
from core.media import decoding
from core.media.decoding import DecoderPool
from core.media.images import ImageDecoder, ImageLimits, normalise_image


def _png(size: tuple[int, int] = (3000, 2000)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def pool() -> Iterator[DecoderPool]:
    pool = DecoderPool(1)
    yield pool
    pool.close()


async def test_a_decoder_with_processes_decodes_elsewhere_and_returns_the_same_image() -> None:
    data = _png()
    decoder = ImageDecoder(threads=2, processes=True)
    try:
        assert decoder.processes is not None
        pids = decoder.processes.pids
        part = await decoder.normalise(data, caption="is it broken?")
    finally:
        decoder.close()
    assert len(pids) == 2 and os.getpid() not in pids
    assert part == normalise_image(data, ImageLimits(), "is it broken?")
    assert part.width * part.height <= ImageLimits().target_pixels


def test_errors_come_back_with_their_type(pool: DecoderPool) -> None:
    with pytest.raises(UnsupportedImageFormatError):
        pool.normalise(b"GIF89a not really", ImageLimits(), "")
    with pytest.raises(ImageError, match=r"corrupt|recognised"):
        pool.normalise(_png()[:200], ImageLimits(), "")
    assert pool.normalise(_png((40, 30)), ImageLimits(), "").width == 40  # still serving


def test_a_process_killed_while_idle_is_replaced_before_the_next_photo(pool: DecoderPool) -> None:
    (first,) = pool.pids
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while first in pool.pids and time.monotonic() < deadline:
        time.sleep(0.01)
    part = pool.normalise(_png((40, 30)), ImageLimits(), "")
    assert part.width == 40 and pool.pids and first not in pool.pids


def test_a_process_that_dies_mid_photo_fails_that_photo_only(pool: DecoderPool) -> None:
    (first,) = pool.pids
    process = pool._idle.get()
    process._process.send_signal(signal.SIGKILL)
    process._process.wait()
    pool._idle.put(process)
    with pytest.raises(ImageError, match="decoding process"):
        decoding.DecoderProcess.normalise(process, _png((40, 30)), ImageLimits(), "")
    assert pool.normalise(_png((40, 30)), ImageLimits(), "").width == 40
    assert first not in pool.pids


def test_decoding_processes_yield_the_cpu(pool: DecoderPool) -> None:
    pool.normalise(_png((40, 30)), ImageLimits(), "")  # started and serving
    (pid,) = pool.pids
    assert os.getpriority(os.PRIO_PROCESS, pid) >= decoding.NICENESS
    assert os.sched_getscheduler(pid) == os.SCHED_IDLE


def test_a_closed_pool_ends_its_processes_and_refuses_photos() -> None:
    pool = DecoderPool(2)
    pids = pool.pids
    pool.close()
    assert pool.pids == []
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # ended and reaped
    with pytest.raises(ImageError, match="closed"):
        pool.normalise(_png((40, 30)), ImageLimits(), "")


def test_decoding_processes_inherit_no_secret_or_setting_of_kefu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEFU_TELEGRAM__BOT_TOKEN", "123:secret-token")
    monkeypatch.setenv("SOME_API_KEY", "hunter2")
    process = decoding.DecoderProcess()
    try:
        # One photo first: the process has started (its environment is set up) and works.
        assert process.normalise(_png((40, 30)), ImageLimits(), "").width == 40
        with open(f"/proc/{process.pid}/environ", "rb") as file:
            names = {item.split(b"=", 1)[0].decode() for item in file.read().split(b"\0") if item}
    finally:
        process.stop()
    assert "KEFU_TELEGRAM__BOT_TOKEN" not in names and "SOME_API_KEY" not in names
    assert {"PATH", "PYTHONPATH"} <= names


def test_the_decoder_environment_keeps_only_what_python_needs() -> None:
    env = decoding.decoder_environment(
        {"PATH": "/bin", "LC_ALL": "C", "KEFU_SLACK__BOT_TOKEN": "xoxb", "AWS_SECRET": "s"}
    )
    assert set(env) == {"PATH", "LC_ALL", "PYTHONPATH"}
