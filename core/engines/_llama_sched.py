"""Continuous batching for the llama.cpp engine, on one dedicated engine thread.

Every step is ONE ``llama_decode`` call that carries the next token of every decoding row
plus as many prompt tokens of newcomers as the batch has room for (chunked prefill), so
a question that arrives mid-generation costs the running rows one slightly longer step
instead of a pause. All rows live in one KV cache as separate sequences; a system prompt
seen before is not computed again: its cells are shared with the new row's sequence
(``llama_kv_cache_seq_cp`` adds an owner to a cell; nothing is copied).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from core.engines._engine_thread import EngineThread, Item, deliver
from core.engines._llama_rows import LlamaJob, Output, Slot, consume, pick_tokens
from core.engines._llamacpp import LlamaModel
from core.engines._text import StopMatcher
from core.engines.base import FinishReason
from core.errors import EngineError

log = logging.getLogger(__name__)
MIN_PREFIX_TOKENS = 8  # shorter shared prefixes are not worth a cache entry


class LlamaScheduler(EngineThread[LlamaJob]):
    """Owns the engine thread, the model, the rows and the prefix cache.

    Args:
        load: Builds the model; called on the engine thread.
        max_rows: Most requests decoded together.
        prefix_slots: Cached system prompts (each holds one KV sequence).
        pace_s: Longest wait, before a step, for consumers to take the last step's chunks
            (0: never wait); a slow consumer never holds the batch longer.
    """

    kind = "llama.cpp"

    def __init__(
        self,
        load: Callable[[], LlamaModel],
        *,
        max_rows: int = 16,
        prefix_slots: int = 4,
        pace_s: float = 0.004,
    ) -> None:
        super().__init__("kefu-llama", log)
        self.max_rows = max(1, max_rows)
        self.pace_s = max(0.0, pace_s)
        self.prefix_slots = max(0, prefix_slots)
        self.model: LlamaModel | None = None
        self.steps = 0
        self.prefix_hits = 0
        self._load = load
        self._ready: Future[LlamaModel] = Future()
        self._slots: list[Slot] = []
        self._free_seqs = list(range(self.max_rows))
        # prefix ids -> the sequence holding their KV (numbered after the rows' own)
        self._prefixes: OrderedDict[tuple[int, ...], int] = OrderedDict()
        self._free_prefix_seqs = list(range(self.max_rows, self.max_rows + self.prefix_slots))
        self._prefix_cells: dict[int, int] = {}
        self._reserved = 0
        self._thread.start()

    # ---- any thread ------------------------------------------------------------------

    def ready(self) -> Future[LlamaModel]:
        """Resolves to the model once it is loaded on the engine thread (or to the error)."""
        return self._ready

    @property
    def running(self) -> int:
        return len(self._slots)

    @property
    def waiting(self) -> int:
        return len(self._incoming)

    @property
    def cached_prefixes(self) -> int:
        return len(self._prefixes)

    def nudge(self) -> None:
        """A consumer took its chunks (called from the event loop)."""
        with self._cond:
            self._cond.notify()

    def _check_accepting(self) -> None:
        if not self.alive:  # closed, or the model failed to load
            raise EngineError("engine is closed")

    # ---- engine thread -----------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.model = self._load()
        except BaseException as exc:
            self._ready.set_exception(exc)
            self._closed = True
            return
        self._ready.set_result(self.model)
        try:
            while self._wait_for_work():
                self._step()
        finally:
            self._fail_everything(EngineError("engine is closed"))
            self.model.close()

    def _has_work(self) -> bool:
        return bool(self._incoming or self._slots)

    def _run(self, out: Output) -> None:
        if self._slots:
            self._pace()
            self._run_batch(out)

    def _deliver(self, out: Output) -> None:
        for job, _ in out:
            job.sent += 1  # before the consumer can take them (see _pace)
        deliver(out)

    def _pace(self) -> None:
        """Before the next step, give the consumers up to ``pace_s`` to take the last chunks.

        llama.cpp's threads wait for each other at every layer; when the event loop wakes
        up to stream a token while they compute, it takes a core from one of them and the
        others spin until it gets it back. Through the API on 2 cores that made a token
        cost ~12.7 ms against ~8.5 ms in-process. Streaming between steps instead costs
        the step only the event loop's own fraction of a millisecond.
        """
        if self.pace_s <= 0:
            return
        deadline = time.monotonic() + self.pace_s
        with self._cond:
            while not self._closed and any(s.job.taken < s.job.sent for s in self._slots):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def _model(self) -> LlamaModel:
        assert self.model is not None
        return self.model

    def _admit(self, out: Output) -> None:
        """Give waiting jobs a sequence while rows and KV cells allow (in arrival order)."""
        model = self._model()
        while self._free_seqs:
            with self._cond:
                if not self._incoming:
                    return
                job = self._incoming[0]
                if job.aborted:
                    self._incoming.popleft()
                    self._finish(job, out, job.abort_chunk())
                    continue
                need = self._reservation(job)
                if self._slots and self._reserved + need > model.shape.cells:
                    return  # wait for running rows to free their cells
                self._incoming.popleft()
            self._start_row(job, need)

    def _reservation(self, job: LlamaJob) -> int:
        prompt = job.prompt
        shared = prompt.prefix_len if self._usable_prefix(job) else 0
        room = self._model().max_positions - len(prompt.ids)
        return len(prompt.ids) - shared + max(1, min(job.request.max_new_tokens, room))

    def _usable_prefix(self, job: LlamaJob) -> bool:
        prompt = job.prompt
        return (
            self.prefix_slots > 0
            and prompt.prefix_len >= MIN_PREFIX_TOKENS
            and prompt.prefix_len < len(prompt.ids)
        )

    def _start_row(self, job: LlamaJob, need: int) -> None:
        model = self._model()
        seq = self._free_seqs.pop()
        model.forget(seq)
        start = 0
        if self._usable_prefix(job):
            model.share(self._prefix_seq(job.prompt.prefix), seq)
            start = job.prompt.prefix_len
        request = job.request
        rng = np.random.default_rng(request.seed) if request.temperature > 0 else None
        slot = Slot(job, seq, list(job.prompt.ids[start:]), start, need, rng)
        slot.stopper = StopMatcher(request.stop)
        self._slots.append(slot)
        self._reserved += need

    def _prefix_seq(self, prefix: tuple[int, ...]) -> int:
        """The sequence holding ``prefix``'s KV; computed now when it is not cached."""
        model = self._model()
        seq = self._prefixes.get(prefix)
        if seq is not None:
            self._prefixes.move_to_end(prefix)
            self.prefix_hits += 1
            return seq
        if not self._free_prefix_seqs:
            _, seq = self._prefixes.popitem(last=False)
            self._reserved -= self._prefix_cells.pop(seq, 0)
        else:
            seq = self._free_prefix_seqs.pop()
        model.forget(seq)
        chunk = model.shape.batch_tokens
        for begin in range(0, len(prefix), chunk):
            part = prefix[begin : begin + chunk]
            model.decode([(t, begin + i, seq, False) for i, t in enumerate(part)])
        self._prefixes[prefix] = seq
        self._prefix_cells[seq] = len(prefix)
        self._reserved += len(prefix)
        return seq

    def _run_batch(self, out: Output) -> None:
        """One decode call: every decoding row's last token, then prompt tokens that fit."""
        model = self._model()
        entries: list[tuple[int, int, int, bool]] = []
        outputs: list[Slot] = []
        positions: list[int] = []  # batch index of each output's logits
        for slot in self._slots:
            if slot.decoding:
                positions.append(len(entries))
                entries.append((slot.last_token, slot.next_pos, slot.seq, True))
                outputs.append(slot)
                slot.next_pos += 1
        room = model.shape.batch_tokens - len(entries)
        for slot in self._slots:
            if room <= 0:
                break
            if slot.decoding:
                continue
            take = slot.todo[:room]
            del slot.todo[: len(take)]
            room -= len(take)
            last = len(take) - 1
            for i, token in enumerate(take):
                entries.append((token, slot.next_pos + i, slot.seq, i == last and not slot.todo))
            slot.next_pos += len(take)
            if not slot.todo:
                positions.append(len(entries) - 1)
                outputs.append(slot)
        model.decode(entries)
        self.steps += 1
        if outputs:
            self._advance(outputs, model.logits(positions), out)

    def _advance(self, slots: list[Slot], logits: np.ndarray, out: Output) -> None:
        model = self._model()
        picks = pick_tokens(logits, slots)
        ended: list[tuple[Slot, FinishReason]] = []
        for slot, pick in zip(slots, picks, strict=True):
            reason = consume(slot, pick, model.piece, model.is_end(pick.token), out)
            if reason is None and slot.next_pos + 1 >= model.max_positions:
                reason = "length"
            if reason is not None:
                ended.append((slot, reason))
        for slot, reason in ended:
            self._end_row(slot, out, slot.final_chunk(reason))

    def _end_row(self, slot: Slot, out: Output, item: Item) -> None:
        self._slots.remove(slot)
        self._model().forget(slot.seq)
        self._free_seqs.append(slot.seq)
        self._reserved -= slot.reserved
        self._finish(slot.job, out, item)

    def _drop_aborted(self, out: Output) -> None:
        for slot in [s for s in self._slots if s.job.aborted]:
            self._end_row(slot, out, slot.job.abort_chunk())

    def _fail_running(self, error: EngineError, out: Output) -> None:
        for slot in list(self._slots):
            self._end_row(slot, out, error)
