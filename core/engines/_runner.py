"""Forward passes for the batch scheduler: prefill a group of prompts, decode one step.

The runner knows the model's shape (layers, kv heads, head dim, whether positions are
Qwen-VL's 3-D M-RoPE) and nothing about requests. Every call passes explicit position ids
and a ready 4-D boolean attention mask, so rows with left padding, holes between a cached
prefix and their suffix, or different lengths all share one forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from core.engines import _attention
from core.engines._kv import GROW_COLUMNS, KVBatch, PrefixKV, prefill_mask


@dataclass(frozen=True, slots=True)
class VisionInputs:
    """Preprocessed images of one prompt, in the order their placeholders appear."""

    pixel_values: torch.Tensor
    image_grid_thw: torch.Tensor

    @property
    def images(self) -> int:
        return int(self.image_grid_thw.shape[0])


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    """A tokenised prompt, ready for the engine thread.

    Attributes:
        ids: All prompt token ids (image placeholders already expanded).
        prefix_len: How many leading ids form a shareable prefix (the system message);
            0 when the prompt has none worth caching.
        vision: Pixel inputs for the image placeholders, if any.
    """

    ids: tuple[int, ...]
    prefix_len: int = 0
    vision: VisionInputs | None = field(default=None, repr=False)

    @property
    def prefix(self) -> tuple[int, ...]:
        return self.ids[: self.prefix_len]

    @property
    def suffix(self) -> tuple[int, ...]:
        return self.ids[self.prefix_len :]


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What the runner needs to know about a model to allocate caches."""

    layers: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int
    mrope: bool
    image_token_id: int | None
    pad_token_id: int


def model_shape(model: Any) -> ModelShape:
    """Read the cache geometry from a transformers model's (text) config."""
    config = model.config
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    image_token_id = getattr(config, "image_token_id", None)
    pad = getattr(text, "pad_token_id", None)
    if pad is None:
        pad = getattr(config, "pad_token_id", None)
    return ModelShape(
        layers=text.num_hidden_layers,
        kv_heads=getattr(text, "num_key_value_heads", None) or heads,
        head_dim=head_dim,
        vocab_size=text.vocab_size,
        max_positions=getattr(text, "max_position_embeddings", 4096),
        mrope=image_token_id is not None,
        image_token_id=image_token_id,
        pad_token_id=int(pad) if pad is not None else 0,
    )


class ModelRunner:
    """Runs prefill and decode forward passes of one model on one device.

    Must only be used from the engine thread.
    """

    def __init__(
        self, model: Any, device: torch.device, dtype: torch.dtype, *, cascade: bool = True
    ) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        self.shape = model_shape(model)
        self.cascade = cascade and _use_cascade_attention(model)

    def allocate(self, rows: int, capacity: int) -> KVBatch:
        return KVBatch.allocate(
            rows=rows,
            layers=self.shape.layers,
            kv_heads=self.shape.kv_heads,
            head_dim=self.shape.head_dim,
            capacity=capacity,
            dtype=self.dtype,
            device=self.device,
        )

    def compute_prefix(self, ids: Sequence[int]) -> PrefixKV:
        """Run the shared prefix alone and keep its keys/values for later requests."""
        batch = self.allocate(1, len(ids))
        self.prefill(batch, [PreparedPrompt(tuple(ids))], logits=False)
        return batch.export_prefix()

    def start_batch(self, prompts: Sequence[PreparedPrompt], prefix: PrefixKV | None) -> KVBatch:
        """Allocate a batch for ``prompts`` with ``prefix`` already in every row."""
        prefix_len = prefix.length if prefix is not None else 0
        longest = max(len(p.ids) - prefix_len for p in prompts)
        batch = self.allocate(len(prompts), prefix_len + longest + GROW_COLUMNS)
        if prefix is not None:
            batch.load_prefix(prefix)
            batch.next_pos[:] = prefix_len
        return batch

    def prefill(
        self, batch: KVBatch, prompts: Sequence[PreparedPrompt], *, logits: bool = True
    ) -> torch.Tensor | None:
        """Feed each prompt's tokens after what ``batch`` already holds (its cached prefix).

        Suffixes are left-padded to a common length; row ``i`` gets positions continuing
        from ``batch.next_pos[i]``. Returns the next-token logits ``[rows, vocab]``.
        """
        start = batch.length
        suffixes = [p.ids[start:] for p in prompts]
        width = max(len(s) for s in suffixes)
        ids = torch.full((len(prompts), width), self.shape.pad_token_id, dtype=torch.long)
        batch.ensure_capacity(width)
        for row, suffix in enumerate(suffixes):
            ids[row, width - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
            batch.valid[row, start + width - len(suffix) : start + width] = True
        ids = ids.to(self.device)
        suffix_valid = batch.valid[:, start : start + width]
        positions = self._prefill_positions(ids, suffix_valid, prompts, batch.next_pos)
        mask = prefill_mask(batch.valid[:, : start + width], width)
        kwargs: dict[str, Any] = {}
        vision = [p.vision for p in prompts if p.vision is not None]
        if vision:
            kwargs["pixel_values"] = torch.cat([v.pixel_values for v in vision]).to(
                self.device, self.dtype
            )
            kwargs["image_grid_thw"] = torch.cat([v.image_grid_thw for v in vision]).to(self.device)
        output = self.model(
            input_ids=ids,
            position_ids=positions,
            attention_mask=mask,
            past_key_values=batch.cache,
            use_cache=True,
            logits_to_keep=1,
            **kwargs,
        )
        batch.next_pos = self._next_positions(positions, suffix_valid)
        return output.logits[:, -1] if logits else None

    def decode(self, batch: KVBatch, tokens: Sequence[int]) -> torch.Tensor:
        """One decode step: feed each row's last token; return logits ``[rows, vocab]``."""
        ids = torch.tensor(tokens, dtype=torch.long, device=self.device)[:, None]
        mask = batch.decode_mask()
        positions = batch.next_pos[:, None]
        if self.shape.mrope:
            positions = positions[None].expand(3, -1, -1)
        shared = batch.shared()
        extra = {"kefu_shared": shared} if shared is not None else {}
        output = self.model(
            input_ids=ids,
            position_ids=positions,
            attention_mask=mask,
            past_key_values=batch.cache,
            use_cache=True,
            **extra,
        )
        batch.next_pos = batch.next_pos + 1
        return output.logits[:, -1]

    def _prefill_positions(
        self,
        ids: torch.Tensor,
        valid: torch.Tensor,
        prompts: Sequence[PreparedPrompt],
        offsets: torch.Tensor,
    ) -> torch.Tensor:
        """Position ids of the suffix tokens: 1-D for text models, 3-D M-RoPE for Qwen-VL."""
        ranks = (valid.long().cumsum(-1) - 1).clamp(min=0)
        if not self.shape.mrope:
            return ranks + offsets[:, None]
        grids = [p.vision.image_grid_thw for p in prompts if p.vision is not None]
        if not grids:
            return (ranks + offsets[:, None])[None].expand(3, -1, -1)
        assert self.shape.image_token_id is not None  # mrope models always have one
        token_types = torch.eq(ids, self.shape.image_token_id).int()
        positions, _ = self.model.model.get_rope_index(
            ids,
            mm_token_type_ids=token_types,
            image_grid_thw=torch.cat(grids).to(self.device),
            attention_mask=valid.long(),
        )
        return positions + offsets[None, :, None]

    @staticmethod
    def _next_positions(positions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        flat = positions if positions.dim() == 2 else positions.max(dim=0).values
        return flat.masked_fill(~valid, -1).max(dim=-1).values + 1


def _use_cascade_attention(model: Any) -> bool:
    """Switch the model's text attention to :mod:`core.engines._attention` (sdpa inside).

    Returns False (prefixes then stay in every row) when the model refuses the switch.
    """
    name = _attention.register()
    text_config = model.config.get_text_config(decoder=True)
    try:
        if text_config is model.config:
            model.set_attn_implementation(name)
        else:  # vision-language: only the language model; the vision tower keeps sdpa
            model.set_attn_implementation({"text_config": name})
    except (ValueError, TypeError, AttributeError):
        return False
    return text_config._attn_implementation == name
