"""Cascade attention for decode steps: a shared prompt prefix is attended to once per batch.

Every customer chat of a bot starts with the same long system prompt. Storing its keys and
values in every row of the batch would multiply memory by the batch size, and attending
to it row by row is many tiny matrix products. Instead, rows keep only their own columns
(question + answer so far) in the batch cache, and each shared prefix lives once. For a
one-token decode step each layer computes

* attention of every row over its own columns (masked), with the log-sum-exp, and
* attention of all rows sharing a prefix over that prefix as ONE batched GEMM,

and merges the two softmax parts exactly with their log-sum-exps. Prefill (more than one
query token) uses plain SDPA over materialised columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

ATTENTION_NAME = "kefu_cascade"


@dataclass(frozen=True, slots=True)
class SharedSlot:
    """Rows of the batch that share one cached prefix."""

    rows: torch.Tensor  # long indices into the batch
    keys: tuple[torch.Tensor, ...]  # per layer, [1, kv_heads, prefix_len, head_dim]
    values: tuple[torch.Tensor, ...]


@dataclass(frozen=True, slots=True)
class SharedPrefixes:
    """What one decode forward needs to attend to the shared prefixes."""

    slots: tuple[SharedSlot, ...]


def cascade_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    kefu_shared: SharedPrefixes | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """The attention function registered as ``kefu_cascade`` (HF attention interface).

    Shapes follow transformers: query ``[B, H, q, D]``, key/value ``[B, KV, L, D]``; the
    result is ``[B, q, H, D]``.
    """
    if kefu_shared is None or not kefu_shared.slots or query.shape[2] != 1:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads
    scale = scaling if scaling is not None else dim**-0.5
    grouped = query.reshape(batch, kv_heads, group, dim)
    output, lse = _own_attention(grouped, key, value, attention_mask, scale)
    layer = module.layer_idx
    for slot in kefu_shared.slots:
        _merge_prefix(output, lse, grouped, slot, slot.keys[layer][0], slot.values[layer][0], scale)
    result = output.to(query.dtype).reshape(batch, heads, 1, dim).transpose(1, 2)
    return result.contiguous(), None


def _own_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over each row's own columns; returns fp32 output and log-sum-exp."""
    scores = torch.matmul(query, key.transpose(-1, -2)).float() * scale  # [B, KV, G, L]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # mask [B, 1, 1, L] broadcasts
    lse = torch.logsumexp(scores, dim=-1, keepdim=True)
    weights = torch.exp(scores - lse).to(value.dtype)
    return torch.matmul(weights, value).float(), lse


def _merge_prefix(
    output: torch.Tensor,
    lse: torch.Tensor,
    query: torch.Tensor,
    slot: SharedSlot,
    keys: torch.Tensor,
    values: torch.Tensor,
    scale: float,
) -> None:
    """Add the shared prefix's softmax part to ``output`` for ``slot.rows`` (in place).

    A row belongs to one slot at most, so its log-sum-exp is not needed afterwards.
    """
    rows = slot.rows
    kv_heads, group, dim = query.shape[1:]
    count = rows.shape[0]
    every_row = count == query.shape[0]  # the usual case: one bot, one system prompt
    picked = query if every_row else query.index_select(0, rows)
    # all queries of all sharing rows, per kv head: one [rows*group, D] x [D, P] GEMM
    stacked = picked.permute(1, 0, 2, 3).reshape(kv_heads, count * group, dim)
    scores = torch.bmm(stacked, keys.transpose(1, 2)).float() * scale
    prefix_lse = torch.logsumexp(scores, dim=-1, keepdim=True)
    weights = torch.exp(scores - prefix_lse).to(values.dtype)
    prefix_out = torch.bmm(weights, values).float()  # [KV, rows*G, D]
    prefix_out = prefix_out.reshape(kv_heads, count, group, dim).permute(1, 0, 2, 3)
    prefix_lse = prefix_lse.reshape(kv_heads, count, group, 1).permute(1, 0, 2, 3)
    own_out = output if every_row else output.index_select(0, rows)
    own_lse = lse if every_row else lse.index_select(0, rows)
    # softmax over [prefix | own] = lerp of the two parts by the share of the own part
    merged = torch.lerp(prefix_out, own_out, torch.sigmoid(own_lse - prefix_lse))
    if every_row:
        output.copy_(merged)
    else:
        output.index_copy_(0, rows, merged)


def register() -> str:
    """Register the attention function with transformers (idempotent); return its name."""
    AttentionInterface.register(ATTENTION_NAME, cascade_attention)
    return ATTENTION_NAME
