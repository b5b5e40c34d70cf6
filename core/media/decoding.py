"""Decoding photos in worker processes, so that the server's own process never does it.

Decoding threads inside the server (even at nice +10, with Pillow releasing the GIL while it
decodes) stalled the server's event loop and its database thread: a 40 MP PNG's decode
allocates and frees ~160 MB at a time, and those allocations, the frees (``munmap``) and
``malloc_trim`` hold the process's heap and address-space locks, and the GIL, for tens of
milliseconds. Measured on the 2-vCPU VM (``bench/edge.py``'s photo, four at once, a 1 ms
timer on another thread): the timer ran up to 15–100 ms late with two decoding threads, at
most 5 ms late with two decoding processes. A process has its own heap, address space and
GIL; it is started with the server (``python -m core.media.decoding``, importing only
Pillow and this package), so no import happens while photos arrive.

Protocol, one request at a time per process over its stdin/stdout: a 4-byte big-endian
length, a JSON header of that length, then the ``size`` payload bytes the header names.
Nothing is unpickled: the server only reads a header and image bytes back.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from core.errors import ImageError, ImageTooLargeError, UnsupportedImageFormatError
from core.model.turn import ImagePart

_ERRORS: dict[str, type[ImageError]] = {
    "ImageError": ImageError,
    "ImageTooLargeError": ImageTooLargeError,
    "UnsupportedImageFormatError": UnsupportedImageFormatError,
}
_LENGTH = struct.Struct(">I")
_ROOT = Path(__file__).resolve().parents[2]  # the directory that holds ``core``
NICENESS = 10  # where SCHED_IDLE is refused, the decoding processes still yield at nice +10


def _write_message(stream: IO[bytes], header: dict[str, Any], payload: bytes) -> None:
    encoded = json.dumps({**header, "size": len(payload)}).encode()
    stream.write(_LENGTH.pack(len(encoded)) + encoded)
    stream.write(payload)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    header: dict[str, Any] = json.loads(_read_exactly(stream, length))
    return header, _read_exactly(stream, int(header["size"]))


# What a decoding process inherits: no token, secret or setting of kefu's (KEFU_*), only
# what Python, the C library and Pillow read.
_INHERITED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TMPDIR", "TEMP", "TMP", "TZ",
                        "SYSTEMROOT", "VIRTUAL_ENV"})  # fmt: skip
_INHERITED_PREFIXES = ("LC_", "PYTHON", "MALLOC_", "OMP_")


def decoder_environment(parent: Mapping[str, str]) -> dict[str, str]:
    """The environment of a decoding process: the parent's, less everything else."""
    env = {k: v for k, v in parent.items() if k in _INHERITED or k.startswith(_INHERITED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), parent.get("PYTHONPATH")]))
    return env


class DecoderProcess:
    """One decoding process; :meth:`normalise` is blocking (call it from a thread)."""

    def __init__(self) -> None:
        env = decoder_environment(os.environ)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "core.media.decoding"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=_ROOT,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def normalise(self, data: bytes, limits: Any, caption: str) -> ImagePart:
        """:func:`core.media.images.normalise_image` in the process.

        Raises:
            ImageError (or its subclasses): as ``normalise_image``; also when the process
                died while decoding (it is replaced by the pool).
        """
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            _write_message(
                self._process.stdin, {"limits": asdict(limits), "caption": caption}, data
            )
            header, payload = _read_message(self._process.stdout)
        except (OSError, EOFError, ValueError) as exc:
            self.stop()
            raise ImageError(f"the image decoding process failed: {exc}") from exc
        if "error" in header:
            raise _ERRORS.get(header["error"], ImageError)(header["message"])
        return ImagePart(payload, header["mime"], header["width"], header["height"], header["sha256"], header["caption"])  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()  # the process ends at end of input
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class DecoderPool:
    """``size`` decoding processes, started at once; a process that died is replaced.

    Args:
        size: Processes (as many as decodes may run at once).
    """

    def __init__(self, size: int) -> None:
        self._idle: queue.SimpleQueue[DecoderProcess] = queue.SimpleQueue()
        self._all: list[DecoderProcess] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(size):
            self._idle.put(self._start())

    def _start(self) -> DecoderProcess:
        with self._lock:
            if self._closed:
                raise ImageError("the image decoder is closed")
            process = DecoderProcess()
            self._all = [p for p in self._all if p.alive] + [process]
        return process

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._all if p.alive]

    def normalise(self, data: bytes, limits: Any, caption: str) -> ImagePart:
        """Decode on an idle process (blocking until one is free); one that died while idle
        (killed, out of memory) is replaced first."""
        process = self._idle.get()
        if not process.alive:
            process = self._start()
        try:
            return process.normalise(data, limits, caption)
        finally:
            if self._closed:  # stopped, and handed on: a photo waiting for it fails at once
                process.stop()
                self._idle.put(process)
            else:
                self._idle.put(process if process.alive else self._start())

    def close(self) -> None:
        """End every process (a decode under way fails with ImageError)."""
        with self._lock:
            self._closed = True
            processes, self._all = self._all, []
        for process in processes:
            process.stop()


def _yield_the_cpu() -> None:
    """Run only when the server (and anything else at normal priority) has nothing to do.

    nice +10 still takes about a tenth of a core from a runnable server under CFS, and a waking
    event loop may wait a scheduler slice behind a decoder; ``SCHED_IDLE`` (Linux, allowed
    without privileges) is preempted at once, which keeps webhook acks prompt while a 40 MP
    photo decodes on the same cores.
    """
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The decoding process: answer requests until the server closes its end."""
    from core.media.images import ImageLimits, normalise_and_trim

    _yield_the_cpu()
    while True:
        try:
            header, data = _read_message(stdin)
        except EOFError:
            return
        limits = ImageLimits(**header["limits"])
        try:
            part = normalise_and_trim(data, limits, header["caption"])
        except ImageError as exc:
            _write_message(stdout, {"error": type(exc).__name__, "message": str(exc)}, b"")
            continue
        reply = {"mime": part.mime, "width": part.width, "height": part.height,
                 "sha256": part.sha256, "caption": part.caption}  # fmt: skip
        _write_message(stdout, reply, part.data)


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
