"""KV plumbing and cascade attention: merging, dropping and trimming rows, shared prefixes."""

from __future__ import annotations

import pytest
import torch

from core.engines._kv import KVBatch, PrefixKV, prefill_mask


def _batch_with(rows_lengths: list[int], capacity: int = 16) -> KVBatch:
    batch = KVBatch.allocate(
        rows=len(rows_lengths),
        layers=2,
        kv_heads=1,
        head_dim=2,
        capacity=capacity,
        dtype=torch.float32,
        device=torch.device("cpu"),
    )
    width = max(rows_lengths)
    for layer_index, layer in enumerate(batch.cache.buffer_layers):
        for row, n in enumerate(rows_lengths):
            layer.keys[row, 0, width - n : width] = (
                torch.arange(1, n + 1)[:, None] + 100 * row + layer_index
            )
            layer.values[row, 0, width - n : width] = -layer.keys[row, 0, width - n : width]
        layer.length = width
    for row, n in enumerate(rows_lengths):
        batch.valid[row, width - n : width] = True
        batch.next_pos[row] = n
    return batch


def test_merge_left_pads_and_keeps_every_row():
    merged = KVBatch.merge(_batch_with([3, 2]), _batch_with([5]))
    assert merged.rows == 3 and merged.length == 5
    assert merged.valid[:, :5].tolist() == [
        [False, False, True, True, True],
        [False, False, False, True, True],
        [True, True, True, True, True],
    ]
    keys = merged.cache.buffer_layers[1].keys[:, 0, :5, 0]
    assert keys[0, 2:].tolist() == [2.0, 3.0, 4.0]
    assert keys[1, 3:].tolist() == [102.0, 103.0]
    assert keys[2].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert merged.next_pos.tolist() == [3, 2, 5]


def test_select_rows_trims_all_padding_columns():
    batch = KVBatch.merge(_batch_with([2]), _batch_with([6]))
    batch.select_rows([0])
    assert batch.length == 2 and batch.rows == 1
    assert batch.valid[0, :2].tolist() == [True, True]
    assert batch.cache.buffer_layers[0].keys[0, 0, :2, 0].tolist() == [1.0, 2.0]


def test_decode_mask_grows_capacity():
    batch = _batch_with([4], capacity=4)
    mask = batch.decode_mask()
    assert mask.shape == (1, 1, 1, 5) and mask.all()
    assert batch.valid.shape[1] > 5


def test_prefill_mask_is_causal_with_padding_and_self():
    valid = torch.tensor([[True, True, False, True, True]])
    mask = prefill_mask(valid, 3)[0, 0]
    assert mask.tolist() == [
        [True, True, True, False, False],  # padding query sees only itself and the past
        [True, True, False, True, False],
        [True, True, False, True, True],
    ]


def test_merge_and_select_keep_prefix_slots_consistent():
    prefix_a = PrefixKV((torch.zeros(1, 1, 2, 2),) * 2, (torch.zeros(1, 1, 2, 2),) * 2, 2)
    prefix_b = PrefixKV((torch.ones(1, 1, 3, 2),) * 2, (torch.ones(1, 1, 3, 2),) * 2, 3)
    first, second, third = _batch_with([2, 3]), _batch_with([4]), _batch_with([1])
    first.slots, first.row_slot = [prefix_a], [0, 0]
    second.slots, second.row_slot = [prefix_b], [0]
    merged = KVBatch.merge(KVBatch.merge(first, second), third)
    assert merged.slots == [prefix_a, prefix_b] and merged.row_slot == [0, 0, 1, -1]
    shared = merged.shared()
    assert [slot.rows.tolist() for slot in shared.slots] == [[0, 1], [2]]
    merged.select_rows([2, 3])
    assert merged.slots == [prefix_b] and merged.row_slot == [0, -1]
    assert [slot.rows.tolist() for slot in merged.shared().slots] == [[0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cascade_attention_equals_attention_over_the_full_row(dtype):
    from types import SimpleNamespace

    from core.engines._attention import SharedPrefixes, SharedSlot, cascade_attention

    torch.manual_seed(0)
    rows, heads, kv_heads, dim, own, prefix = 3, 4, 2, 8, 5, 7
    query = torch.randn(rows, heads, 1, dim, dtype=dtype)
    keys, values = (
        torch.randn(rows, kv_heads, own, dim, dtype=dtype),
        torch.randn(rows, kv_heads, own, dim, dtype=dtype),
    )
    mask = torch.ones(rows, 1, 1, own, dtype=torch.bool)
    mask[1, ..., :2] = False  # row 1 has left padding
    prefix_keys = torch.randn(1, kv_heads, prefix, dim, dtype=dtype)
    prefix_values = torch.randn(1, kv_heads, prefix, dim, dtype=dtype)
    shared = SharedPrefixes((SharedSlot(torch.tensor([0, 1]), (prefix_keys,), (prefix_values,)),))
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=heads // kv_heads, is_causal=True)
    out, _ = cascade_attention(module, query, keys, values, mask, kefu_shared=shared)
    for row in range(rows):
        has_prefix = row < 2
        k = torch.cat([prefix_keys[0], keys[row]], 1) if has_prefix else keys[row]
        v = torch.cat([prefix_values[0], values[row]], 1) if has_prefix else values[row]
        m = (
            torch.cat([torch.ones(prefix, dtype=torch.bool), mask[row, 0, 0]])
            if has_prefix
            else mask[row, 0, 0]
        )
        expected = torch.nn.functional.scaled_dot_product_attention(
            query[row].float(),
            k.repeat_interleave(2, 0).float(),
            v.repeat_interleave(2, 0).float(),
            attn_mask=m,
        )
        tolerance = 1e-5 if dtype == torch.float32 else 3e-2
        torch.testing.assert_close(
            out[row, 0].float(), expected[:, 0], atol=tolerance, rtol=tolerance
        )
