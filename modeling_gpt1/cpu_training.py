"""Opt-in speed-up for training on a CPU: the `"block_causal"` attention implementation.

    model = GPT1LMHeadModel.from_pretrained(path, attn_implementation="block_causal")
    model.set_attn_implementation("block_causal")  # or on a model already built

On a CPU, `sdpa` with attention dropout (GPT-1's `attn_pdrop`, 0.1) takes its math path: it multiplies and
normalises the whole `[length, length]` score matrix of every head, half of it masked away by causality, and draws
a dropout mask for every entry with `bernoulli_` (about 7% of a GPT-1 float32 training step's CPU time in a
profile, `benchmarks/README.md`). This implementation computes the same attention in blocks of `BLOCK_ROWS` queries:

- each block multiplies, normalises and drops out only the keys that one of its queries may see, read from the
  mask itself, so that padding, packed sequences and any boolean mask are followed exactly, and masks only the keys
  from the first one hidden to one of its queries;
- its dropout mask is drawn as 31-bit integers (`random_()` of int32), each dropped when at least
  `round((1 - p) 2^31)`: each weight is kept with probability 1 - p (to 2^-32) and the kept ones scaled by
  1 / (1 - p), as `F.dropout` does; drawing it takes about 0.3x the time of `bernoulli_` here;
- its backward is written out (`_BlockCausalAttention`): it needs neither mask, and adds each block's key and value
  gradients into one tensor, where autograd would mask every gradient twice and write each block's into a zero
  tensor of the whole sequence (attention forward and backward at GPT-1's shape: 30-32 ms against 43 ms with
  autograd and 61-67 ms with sdpa, `benchmarks/README.md`).

The result is attention with dropout as `sdpa` computes it, in value and gradient (rows without a visible key give
0, as `sdpa`'s do), from another stream of the same random generator; in bfloat16 or float16 the rounding steps
differ from sdpa's. Everything else runs Transformers' own `sdpa` unchanged: no dropout (evaluation, generation),
other devices, `torch.compile` (the blocks' widths depend on the mask's values), float masks (a float mask does not
say which keys are invisible), `position_bias` or `softcap`, grouped key/value heads, batches that broadcast between
queries and keys, no queries, and causal attention without a mask over fewer keys than queries.

It has first derivatives only: its backward computes with weights saved as constants, so a backward with
`create_graph=True` through it (second derivatives: gradient penalties, Hessians) raises a RuntimeError rather than
leave out its terms, and `torch.func` transforms and forward-mode AD are refused by PyTorch itself. Use `sdpa` for
those.
"""

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask


BLOCK_CAUSAL = "block_causal"  # the name to pass as `attn_implementation`

# Queries a block: 4 blocks over GPT-1's 512 positions compute 62.5% of the causal score matrix (one block: 100%). On
# this CPU, attention forward and backward at GPT-1's shape ran fastest with 64 to 128 (256 and 32 slower,
# benchmarks/README.md): fewer blocks pay less per-block overhead, more compute less of the masked half.
BLOCK_ROWS = 128

_DRAW_RANGE = 2**31  # dropout draws integers in [0, 2^31)


def dropout_mask(shape: torch.Size, p: float, device: torch.device | None = None) -> torch.Tensor:
    """A boolean mask of `shape`, each entry True (dropped) with probability `p` to 2^-32, drawn from torch's default
    generator as 31-bit integers (faster on a CPU than `bernoulli_`, which `F.dropout` uses)."""
    draws = torch.empty(shape, dtype=torch.int32, device=device).random_()  # [0, 2^31)
    return draws > round((1 - p) * _DRAW_RANGE) - 1  # not `>= 2^31` (p tiny): 2^31 would overflow the int32 compare


def _block_mask(mask: torch.Tensor | None, start: int, end: int, device: torch.device):
    """For queries `start:end`: the number `keys` of leading keys one of them may see (the keys after are invisible
    to all of them), the first key `first` that one of them may not see (`keys` when they all see every one), which
    of the keys `first:keys` each query may not see (True), and which queries see no key at all (`[..., end - start,
    1]`; None when each sees one). `mask` None is causal attention: query i sees keys 0..i."""
    if mask is None:
        return end, start + 1, torch.ones(end - start, end - start - 1, dtype=torch.bool, device=device).triu(), None
    block = mask[..., start:end, :]
    visible = block.flatten(0, -2).any(dim=0).nonzero()
    keys = int(visible[-1]) + 1 if len(visible) else 1
    invisible = ~block[..., :keys]
    hidden = invisible.flatten(0, -2).any(dim=0).nonzero()
    first = int(hidden[0]) if len(hidden) else keys
    sees_none = invisible.all(dim=-1, keepdim=True)
    return keys, first, invisible[..., first:], sees_none if sees_none.any() else None


class _BlockCausalAttention(torch.autograd.Function):
    """softmax(q k^T + mask) with dropout, times v, a block of `BLOCK_ROWS` queries at a time, with its own backward.

    With P a block's weights, keep dropout's 0/1 mask, K = P * keep the weights kept and dK the gradient reaching K,
    softmax's backward gives the scores' gradient P * (dP - rowsum(P * dP)) with dP = keep * dK; as keep^2 = keep,
    P * dP = K * dK, so it is K * dK - P * rowsum(K * dK), needing no mask: masked and dropped weights are 0 in K,
    masked ones in P too. Autograd's backward of the same forward masks the gradient twice (dropout, then the mask)
    and writes each block's key and value gradients into a zero tensor of the whole sequence."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, query, key, value, attention_mask, scaling, dropout):
        query = query * scaling
        outputs, blocks, saved = [], [], []
        for start in range(0, query.shape[2], BLOCK_ROWS):
            end = min(start + BLOCK_ROWS, query.shape[2])
            keys, first, invisible, sees_none = _block_mask(attention_mask, start, end, query.device)
            scores = torch.matmul(query[:, :, start:end], key[:, :, :keys].transpose(-1, -2))
            # Set, not added: the minimum of the scores' own dtype (autocast may make it another than the query's),
            # so that a row seeing no key is uniform rather than -inf (NaN in the backward); such rows are set to 0
            # after the softmax, as sdpa's are. Only the keys from the first one hidden to some query are filled.
            scores[..., first:].masked_fill_(invisible, torch.finfo(scores.dtype).min)
            weights = F.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(query.dtype)
            if sees_none is not None:
                weights.masked_fill_(sees_none, 0.0)
            kept = torch.where(dropout_mask(weights.shape, dropout, weights.device), 0.0, weights)
            outputs.append(torch.matmul(kept, value[:, :, :keys]))
            blocks.append((start, end, keys))
            saved += [weights, kept]
        ctx.blocks, ctx.scaling, ctx.dropout = blocks, scaling, dropout
        ctx.save_for_backward(query, key, value, *saved)
        # 1 / (1 - p) scales the output rather than the weights: the same product, a smaller tensor.
        return torch.cat(outputs, dim=2).mul_(1.0 / (1.0 - dropout))

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_output):
        if torch.is_grad_enabled():  # create_graph=True: the weights saved above are constants to autograd
            raise RuntimeError(
                'attn_implementation="block_causal" has no second derivatives (a backward with create_graph=True, '
                'e.g. a gradient penalty or a Hessian); use attn_implementation="sdpa" for those'
            )
        query, key, value, *saved = ctx.saved_tensors
        grad_output = grad_output * (1.0 / (1.0 - ctx.dropout))
        grad_query, grad_key, grad_value = torch.empty_like(query), torch.zeros_like(key), torch.zeros_like(value)
        for (start, end, keys), weights, kept in zip(ctx.blocks, saved[::2], saved[1::2]):
            grad_block = grad_output[:, :, start:end]
            grad_value[:, :, :keys] += torch.matmul(kept.transpose(-1, -2), grad_block)
            grad_kept = torch.matmul(grad_block, value[:, :, :keys].transpose(-1, -2))
            precision = torch.promote_types(grad_kept.dtype, torch.float32)  # the softmax's gradient as autograd's
            grad_kept, weights, kept = grad_kept.to(precision), weights.to(precision), kept.to(precision)
            grad_scores = grad_kept.mul_(kept)
            grad_scores.addcmul_(weights, grad_scores.sum(dim=-1, keepdim=True), value=-1.0)
            grad_scores = grad_scores.to(query.dtype)
            grad_query[:, :, start:end] = torch.matmul(grad_scores, key[:, :, :keys])
            grad_key[:, :, :keys] += torch.matmul(grad_scores.transpose(-1, -2), query[:, :, start:end])
        return grad_query.mul_(ctx.scaling), grad_key, grad_value, None, None, None


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
    additive float mask goes to sdpa); returns (`[batch, q_len, heads, head_dim]`, None).

    Raises ValueError for a boolean mask that does not fit the queries and keys (sdpa refuses it too)."""
    q_length, kv_length = query.shape[2], key.shape[2]
    causal = q_length > 1 and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    blocked = (
        0.0 < dropout < 1.0
        and query.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and query.shape[:2] == key.shape[:2] == value.shape[:2]  # no grouped key/value heads, no broadcast batch
        and q_length > 0
        and kwargs.get("position_bias") is None
        and kwargs.get("softcap") is None
        and (attention_mask.dtype == torch.bool if attention_mask is not None else causal and kv_length >= q_length)
    )
    if not blocked:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    if attention_mask is not None:
        if attention_mask.shape[-2] not in (1, q_length) or attention_mask.shape[-1] not in (1, kv_length):
            raise ValueError(  # sdpa refuses such a mask too
                f"attention_mask of shape {tuple(attention_mask.shape)} does not fit {q_length} queries and "
                f"{kv_length} keys: [batch, 1 or heads, {q_length} or 1, {kv_length} or 1]"
            )
        # A view: rows (or columns) broadcast over the queries (or keys) are read as one per query (or key).
        attention_mask = attention_mask.expand(*attention_mask.shape[:-2], q_length, kv_length)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    output = _BlockCausalAttention.apply(query, key, value, attention_mask, scaling, dropout)
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register(BLOCK_CAUSAL, block_causal_attention_forward)
AttentionMaskInterface.register(BLOCK_CAUSAL, sdpa_mask)  # the masks sdpa gets: None (causal) or boolean

__all__ = ["BLOCK_CAUSAL", "BLOCK_ROWS", "block_causal_attention_forward", "dropout_mask"]
