"""Opt-in speed-up for training on a CPU: the `"block_causal"` attention implementation.

    model = GPT1LMHeadModel.from_pretrained(path, attn_implementation="block_causal")
    model.set_attn_implementation("block_causal")  # or on a model already built

On a CPU, `sdpa` with attention dropout (GPT-1's `attn_pdrop`, 0.1) takes its math path: it multiplies and
normalises the whole `[length, length]` score matrix of every head, half of it masked away by causality, and draws
a dropout mask for every entry with `bernoulli_` (about 7% of a GPT-1 float32 training step's CPU time in a
profile, `benchmarks/README.md`). This implementation computes the same attention in blocks of `BLOCK_ROWS` queries:

- each block multiplies, normalises and drops out only the keys that one of its queries may see, read from the
  mask itself, so that padding, packed sequences and any boolean mask are followed exactly;
- its dropout mask is drawn as 31-bit integers, each dropped when at least `round((1 - p) 2^31)`: each weight is
  kept with probability 1 - p (to 2^-32) and the kept ones scaled by 1 / (1 - p), as `F.dropout` does; drawing it
  takes about 0.4x the time of `bernoulli_` here.

The result is attention with dropout as `sdpa` computes it, in value and gradient (rows without a visible key give
0, as `sdpa`'s do), from another stream of the same random generator; in bfloat16 or float16 the rounding steps
differ from sdpa's. Everything else runs Transformers' own `sdpa` unchanged: no dropout (evaluation, generation),
other devices, `torch.compile` (the blocks' widths depend on the mask's values), float masks (a float mask does not
say which keys are invisible), `position_bias` or `softcap`, grouped key/value heads, and causal attention without a
mask over fewer keys than queries.
"""

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask


BLOCK_CAUSAL = "block_causal"  # the name to pass as `attn_implementation`

# Queries a block: 4 blocks over GPT-1's 512 positions compute 62.5% of the causal score matrix (one block: 100%). On
# this CPU, attention forward and backward at GPT-1's shape ran fastest with 128 (64 was close, 32 no faster than
# sdpa, benchmarks/README.md): fewer blocks pay less per-block overhead, more compute less of the masked half.
BLOCK_ROWS = 128

_DRAW_RANGE = 2**31  # dropout draws integers in [0, 2^31)


def dropout_mask(shape: torch.Size, p: float, device: torch.device | None = None) -> torch.Tensor:
    """A boolean mask of `shape`, each entry True (dropped) with probability `p` to 2^-32, drawn from torch's default
    generator as 31-bit integers (faster on a CPU than `bernoulli_`, which `F.dropout` uses)."""
    draws = torch.empty(shape, dtype=torch.int32, device=device).random_(0, _DRAW_RANGE)
    return draws > round((1 - p) * _DRAW_RANGE) - 1  # not `>= 2^31` (p tiny): 2^31 would overflow the int32 compare


def _block_mask(mask: torch.Tensor | None, start: int, end: int, device: torch.device):
    """For queries `start:end`: the number `keys` of leading keys one of them may see (the keys after are invisible
    to all of them), which of those keys each query may not see (True), and which queries see no key at all
    (`[..., end - start, 1]`; None when each sees one). `mask` None is causal attention: query i sees keys 0..i."""
    if mask is None:
        return end, torch.ones(end - start, end, dtype=torch.bool, device=device).triu(start + 1), None
    block = mask[..., start:end, :]
    visible = block.flatten(0, -2).any(dim=0).nonzero()
    keys = int(visible[-1]) + 1 if len(visible) else 1
    invisible = ~block[..., :keys]
    sees_none = invisible.all(dim=-1, keepdim=True)
    return keys, invisible, sees_none if sees_none.any() else None


def block_causal_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention with dropout computed in blocks of queries (see the module's docstring); otherwise `sdpa`.

    Arguments as Transformers' attention interface and its `sdpa`: query `[batch, heads, q_len, head_dim]`, key and
    value `[batch, heads, kv_len, head_dim]`, `attention_mask` None (causal: query i sees keys 0..i, as sdpa's
    `is_causal`) or boolean, True where a query attends, broadcastable to `[batch, heads, q_len, kv_len]` (an
    additive float mask goes to sdpa); returns (`[batch, q_len, heads, head_dim]`, None)."""
    q_length, kv_length = query.shape[2], key.shape[2]
    causal = q_length > 1 and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    blocked = (
        0.0 < dropout < 1.0
        and query.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and key.shape[1] == query.shape[1]
        and kwargs.get("position_bias") is None
        and kwargs.get("softcap") is None
        and (attention_mask.dtype == torch.bool if attention_mask is not None else causal and kv_length >= q_length)
    )
    if not blocked:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    query = query * (query.shape[-1] ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        if attention_mask.shape[-2] not in (1, q_length) or attention_mask.shape[-1] != kv_length:
            raise ValueError(  # sdpa refuses such a mask too
                f"attention_mask of shape {tuple(attention_mask.shape)} does not fit {q_length} queries and "
                f"{kv_length} keys: [batch, 1 or heads, {q_length} or 1, {kv_length}]"
            )
        # A view: rows broadcast over the queries are read as one per query.
        attention_mask = attention_mask.expand(*attention_mask.shape[:-2], q_length, kv_length)
    outputs = []
    for start in range(0, q_length, BLOCK_ROWS):
        end = min(start + BLOCK_ROWS, q_length)
        keys, invisible, sees_none = _block_mask(attention_mask, start, end, query.device)
        # Set, not added: the minimum of the scores' own dtype (autocast may make it another than the query's), so
        # that a row seeing no key is uniform rather than -inf (NaN in the backward). The scores are no input of any
        # backward, so this is done in place; softmax keeps its own output.
        scores = torch.matmul(query[:, :, start:end], key[:, :, :keys].transpose(-1, -2))
        scores = scores.masked_fill_(invisible, torch.finfo(scores.dtype).min)
        weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        weights = weights.masked_fill(dropout_mask(weights.shape, dropout, weights.device), 0.0)
        # 1 / (1 - p) scales the block's output rather than its weights: the same product, a smaller tensor.
        output = torch.matmul(weights, value[:, :, :keys]) * (1.0 / (1.0 - dropout))
        outputs.append(output if sees_none is None else output.masked_fill(sees_none, 0.0))  # as sdpa's rows
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(BLOCK_CAUSAL, block_causal_attention_forward)
AttentionMaskInterface.register(BLOCK_CAUSAL, sdpa_mask)  # the masks sdpa gets: None (causal) or boolean

__all__ = ["BLOCK_CAUSAL", "BLOCK_ROWS", "block_causal_attention_forward", "dropout_mask"]
