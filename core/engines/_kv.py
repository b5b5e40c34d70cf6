"""KV-cache plumbing for iteration-level batching.

A :class:`KVBatch` is the state of every row being decoded together: one preallocated key
and value buffer per layer (``[rows, kv_heads, capacity, head_dim]``), a ``valid`` mask
saying which columns hold real tokens for each row (left padding and holes are False), and
each row's next position id. Rows join (``merge``), leave (``select_rows``) and the leading
all-padding columns are dropped (``trim``) between decode steps.

Writing new keys into a preallocated buffer (instead of ``DynamicCache``'s ``torch.cat``
per step) avoids copying the whole cache on every token; that copy dominated the step
time at 16 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

from core.engines._attention import SharedPrefixes, SharedSlot

GROW_COLUMNS = 64  # buffers grow in chunks; amortises the copy without doubling memory


class BufferLayer(CacheLayerMixin):
    """One layer's keys/values in a preallocated buffer, valid up to ``length`` columns."""

    is_sliding = False
    is_compileable = False
    is_croppable = False
    keys: torch.Tensor
    values: torch.Tensor

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        super().__init__()
        self.keys = keys
        self.values = values
        self.length = length
        self.is_initialized = True
        self.dtype, self.device = keys.dtype, keys.device

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        return None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + key_states.shape[-2]
        if end > self.keys.shape[-2]:
            self._grow(end + GROW_COLUMNS)
        self.keys[:, :, self.length : end] = key_states
        self.values[:, :, self.length : end] = value_states
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def _grow(self, capacity: int) -> None:
        self.keys = _resized(self.keys, capacity, self.length)
        self.values = _resized(self.values, capacity, self.length)

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return -1

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.keys = self.keys.index_select(0, indices)
        self.values = self.values.index_select(0, indices)


def _resized(buffer: torch.Tensor, capacity: int, keep: int) -> torch.Tensor:
    rows, heads, _, dim = buffer.shape
    fresh = buffer.new_zeros((rows, heads, capacity, dim))
    fresh[:, :, :keep] = buffer[:, :, :keep]
    return fresh


class BufferCache(Cache):
    """A transformers ``Cache`` made of :class:`BufferLayer` objects."""

    def __init__(self, layers: list[BufferLayer]) -> None:
        super().__init__(layers=list(layers))

    @property
    def buffer_layers(self) -> list[BufferLayer]:
        return self.layers  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class PrefixKV:
    """The cached keys/values of a shared prompt prefix (one row, exactly ``length`` columns)."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]
    length: int

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


class KVBatch:
    """Rows decoded together, with their cache, validity mask and next positions.

    Attributes:
        cache: The transformers cache passed to ``model.forward``.
        valid: ``[rows, capacity]`` bool; True where a column holds a real token of that row.
        next_pos: ``[rows]`` long; the position id of each row's next token.
        slots: Shared prefixes kept outside the cache (see :mod:`core.engines._attention`).
        row_slot: For each row, its index into ``slots``, or -1 when its whole prompt is in
            the cache.
    """

    def __init__(
        self,
        cache: BufferCache,
        valid: torch.Tensor,
        next_pos: torch.Tensor,
        slots: list[PrefixKV] | None = None,
        row_slot: list[int] | None = None,
    ) -> None:
        self.cache = cache
        self.valid = valid
        self.next_pos = next_pos
        self.slots = slots or []
        self.row_slot = row_slot if row_slot is not None else [-1] * int(next_pos.shape[0])
        self._shared: SharedPrefixes | None = None

    @property
    def rows(self) -> int:
        return int(self.next_pos.shape[0])

    @property
    def length(self) -> int:
        return self.cache.buffer_layers[0].length

    @classmethod
    def allocate(
        cls,
        *,
        rows: int,
        layers: int,
        kv_heads: int,
        head_dim: int,
        capacity: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> KVBatch:
        """An empty batch (length 0) with room for ``capacity`` columns."""
        shape = (rows, kv_heads, capacity, head_dim)
        cache = BufferCache(
            [
                BufferLayer(
                    torch.zeros(shape, dtype=dtype, device=device),
                    torch.zeros(shape, dtype=dtype, device=device),
                    0,
                )
                for _ in range(layers)
            ]
        )
        valid = torch.zeros((rows, capacity), dtype=torch.bool, device=device)
        return cls(cache, valid, torch.zeros(rows, dtype=torch.long, device=device))

    def load_prefix(self, prefix: PrefixKV) -> None:
        """Copy ``prefix`` into columns ``[0, prefix.length)`` of every row (batch must be empty)."""
        n = prefix.length
        for layer, keys, values in zip(
            self.cache.buffer_layers, prefix.keys, prefix.values, strict=True
        ):
            layer.keys[:, :, :n] = keys
            layer.values[:, :, :n] = values
            layer.length = n
        self.valid[:, :n] = True

    def export_prefix(self, row: int = 0) -> PrefixKV:
        """The first ``length`` columns of ``row`` as a standalone :class:`PrefixKV`."""
        n = self.length
        layers = self.cache.buffer_layers
        return PrefixKV(
            tuple(layer.keys[row : row + 1, :, :n].clone() for layer in layers),
            tuple(layer.values[row : row + 1, :, :n].clone() for layer in layers),
            n,
        )

    def detach_prefix(self, prefix: PrefixKV) -> None:
        """Drop the prefix columns (every row holds ``prefix`` there) and share it instead."""
        n = prefix.length
        for layer in self.cache.buffer_layers:
            layer.keys = layer.keys[:, :, n:].contiguous()
            layer.values = layer.values[:, :, n:].contiguous()
            layer.length -= n
        self.valid = self.valid[:, n:].contiguous()
        self.slots = [prefix]
        self.row_slot = [0] * self.rows
        self._shared = None

    def shared(self) -> SharedPrefixes | None:
        """The shared prefixes for the attention function, or None when there are none."""
        if not self.slots:
            return None
        if self._shared is None:
            device = self.valid.device
            slots = []
            for index, prefix in enumerate(self.slots):
                rows = [row for row, slot in enumerate(self.row_slot) if slot == index]
                slots.append(
                    SharedSlot(
                        torch.tensor(rows, dtype=torch.long, device=device),
                        prefix.keys,
                        prefix.values,
                    )
                )
            self._shared = SharedPrefixes(tuple(slots))
        return self._shared

    def ensure_capacity(self, extra: int) -> None:
        """Make room for ``extra`` more columns without regrowing inside the forward pass."""
        needed = self.length + extra
        if needed <= self.valid.shape[1]:
            return
        capacity = needed + GROW_COLUMNS
        for layer in self.cache.buffer_layers:
            layer._grow(capacity)
        grown = self.valid.new_zeros((self.rows, capacity))
        grown[:, : self.length] = self.valid[:, : self.length]
        self.valid = grown

    def decode_mask(self) -> torch.Tensor:
        """Mark the next column valid for every row; return the ``[rows, 1, 1, length+1]`` mask."""
        self.ensure_capacity(1)
        end = self.length + 1
        self.valid[:, end - 1] = True
        return self.valid[:, None, None, :end]

    def select_rows(self, keep: list[int]) -> None:
        """Keep only rows ``keep`` (in that order), then drop all-padding leading columns."""
        index = torch.tensor(keep, dtype=torch.long, device=self.valid.device)
        for layer in self.cache.buffer_layers:
            layer.batch_select_indices(index)
        self.valid = self.valid.index_select(0, index)
        self.next_pos = self.next_pos.index_select(0, index)
        self._reslot([self.row_slot[i] for i in keep])
        self.trim()

    def _reslot(self, row_slot: list[int]) -> None:
        """Keep only the slots some row still uses, renumbered."""
        used = sorted({slot for slot in row_slot if slot >= 0})
        renumber = {old: new for new, old in enumerate(used)}
        self.slots = [self.slots[old] for old in used]
        self.row_slot = [renumber.get(slot, -1) for slot in row_slot]
        self._shared = None

    def trim(self) -> None:
        """Drop leading columns that are padding in every row (after rows left)."""
        length = self.length
        if self.rows == 0 or length == 0:
            return
        used = self.valid[:, :length].any(dim=0)
        first = int(used.to(torch.int8).argmax()) if bool(used.any()) else length
        if first == 0:
            return
        capacity = self.valid.shape[1] - first
        for layer in self.cache.buffer_layers:
            layer.keys = layer.keys[:, :, first:].contiguous()
            layer.values = layer.values[:, :, first:].contiguous()
            layer.length = length - first
        self.valid = self.valid[:, first : first + capacity].contiguous()

    @staticmethod
    def merge(first: KVBatch, second: KVBatch, headroom: int = GROW_COLUMNS) -> KVBatch:
        """Stack two batches' rows, left-padding the shorter one so both end at the same column."""
        if first.rows == 0:
            return second
        if second.rows == 0:
            return first
        length = max(first.length, second.length)
        capacity = length + headroom
        rows = first.rows + second.rows
        layers: list[BufferLayer] = []
        for a, b in zip(first.cache.buffer_layers, second.cache.buffer_layers, strict=True):
            shape = (rows, a.keys.shape[1], capacity, a.keys.shape[3])
            keys = a.keys.new_zeros(shape)
            values = a.values.new_zeros(shape)
            _place(keys, values, a, 0, length)
            _place(keys, values, b, first.rows, length)
            layers.append(BufferLayer(keys, values, length))
        valid = first.valid.new_zeros((rows, capacity))
        valid[: first.rows, length - first.length : length] = first.valid[:, : first.length]
        valid[first.rows :, length - second.length : length] = second.valid[:, : second.length]
        next_pos = torch.cat([first.next_pos, second.next_pos])
        slots = list(first.slots)
        second_slot: dict[int, int] = {}
        for index, prefix in enumerate(second.slots):
            same = next((i for i, s in enumerate(slots) if s is prefix), None)
            if same is None:
                slots.append(prefix)
                same = len(slots) - 1
            second_slot[index] = same
        row_slot = first.row_slot + [second_slot.get(s, -1) for s in second.row_slot]
        return KVBatch(BufferCache(layers), valid, next_pos, slots, row_slot)


def _place(
    keys: torch.Tensor, values: torch.Tensor, layer: BufferLayer, row: int, end: int
) -> None:
    rows, n = layer.keys.shape[0], layer.length
    keys[row : row + rows, :, end - n : end] = layer.keys[:, :, :n]
    values[row : row + rows, :, end - n : end] = layer.values[:, :, :n]


def prefill_mask(valid: torch.Tensor, query_len: int) -> torch.Tensor:
    """The ``[rows, 1, query_len, keys]`` bool mask for prefilling the last ``query_len`` columns.

    A query attends to valid keys at or before its own column. Every query also attends to
    itself, so padding queries never see an all-masked row (softmax of nothing is NaN, and
    a NaN value would poison later tokens even with zero attention weight).
    """
    keys = valid.shape[1]
    columns = torch.arange(keys, device=valid.device)
    query_columns = columns[keys - query_len :]
    causal = columns[None, :] <= query_columns[:, None]
    itself = columns[None, :] == query_columns[:, None]
    mask = (causal[None] & valid[:, None, :]) | itself[None]
    return mask[:, None]
