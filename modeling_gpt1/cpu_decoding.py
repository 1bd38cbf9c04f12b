"""Opt-in speed-ups for generating on a CPU: `enable_cpu_decoding(model)`.

A decoding step multiplies one row (a few with beams or batches) by every weight matrix: a matrix-vector product
bound by how fast the weight is read, and one BLAS call streams it on about one core. Here the products of a few
rows split the weight into one slab per thread, multiplied as a batch, which reads it about 1.5x faster on two cores
(`benchmarks/README.md`). Each weight is also laid out in memory the way its dtype streams fastest (same shape and
values): float32 as `[in, out]`, bfloat16 and float16 as `[out, in]`, where a CPU without bf16/fp16 instructions
multiplies a few rows 5-20x faster than with `Conv1D`'s own `[in, out]` layout. The slabs are views of the weights
as stored, read at every call: nothing is copied or cached, so in-place edits, loads, resizes and adapter merges are
seen at once. Anything else (autograd, other devices, compiled graphs, longer inputs) takes the modules' own forward.
The model file itself never does this, so that every Hub user of `trust_remote_code` runs the plain model.
"""

import math
import types

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


# Rows (batch x new tokens) up to which a product splits across threads: decoding steps, beams and short prompts,
# where one BLAS call leaves a core idle; longer inputs are compute-bound and already well threaded.
FEW_ROWS = 64

# Weights of these dtypes are laid out `[out, in]` (reduction axis contiguous), all others `[in, out]`: the layouts
# their few-row products run fastest in on a CPU (measured in benchmarks/README.md: on an AVX2 CPU a bf16 or fp16
# product of 1-8 rows with a weight stored [in, out] runs 5-20x slower than with the same weight stored [out, in],
# while float32 runs about as fast either way and fastest split as [in, out] slabs).
OUT_IN_DTYPES = (torch.bfloat16, torch.float16)


def _splits(x: torch.Tensor, weight: torch.Tensor) -> int:
    """How many equal slabs of `weight`'s rows (as stored, contiguous: the slabs are views) to use for `x`, or 1 for
    the plain product."""
    if torch.compiler.is_compiling() or torch.is_grad_enabled() or x.device.type != "cpu":
        return 1
    if not weight.is_contiguous():
        return 1
    if torch.is_autocast_enabled("cpu"):  # autocast would round each partial product to its lower precision
        return 1
    if x.shape[:-1].numel() > FEW_ROWS:
        return 1
    return math.gcd(torch.get_num_threads(), weight.shape[0])  # equal slabs, at most one a thread


def threaded_matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`x @ weight (+ bias)` for `x` `[..., in]` and `weight` `[in, out]` (a `Conv1D` weight). A few rows without
    autograd on a CPU cut a contiguous float32 weight's `in` rows into one slab per thread and sum the partial
    products."""
    rows = x.shape[:-1].numel()
    # Partial products would each be rounded to a reduced-precision dtype before their sum: float32 only.
    splits = _splits(x, weight) if weight.dtype not in OUT_IN_DTYPES else 1
    if splits < 2:
        flat = x.reshape(rows, x.shape[-1])
        output = flat @ weight if bias is None else torch.addmm(bias, flat, weight)
    else:
        slab = weight.shape[0] // splits
        partial = torch.bmm(x.reshape(rows, splits, slab).transpose(0, 1), weight.view(splits, slab, -1))
        output = partial.sum(0) if bias is None else partial.sum(0).add_(bias)
    return output.view(*x.shape[:-1], weight.shape[-1])


def threaded_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`x @ weight.T` for `x` `[..., in]` and `weight` `[out, in]` (an `nn.Linear` weight, e.g. the tied LM head).
    A few rows without autograd on a CPU cut the weight's `out` rows into one contiguous slab per thread, each giving
    its own columns of the output."""
    rows = x.shape[:-1].numel()
    splits = _splits(x, weight)
    flat = x.reshape(rows, x.shape[-1])
    if splits < 2:
        output = flat @ weight.t()
    else:
        slabs = weight.view(splits, weight.shape[0] // splits, weight.shape[1])
        output = torch.bmm(flat.expand(splits, rows, -1), slabs.transpose(1, 2)).transpose(0, 1).reshape(rows, -1)
    return output.view(*x.shape[:-1], weight.shape[0])


def few_row_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`x @ weight (+ bias)` for `weight` `[in, out]` stored either way in memory: split by its input rows when
    stored `[in, out]` (`threaded_matmul`), by its output rows when stored `[out, in]` (`threaded_linear`)."""
    if weight.is_contiguous() or not weight.t().is_contiguous():
        return threaded_matmul(x, weight, bias)
    output = threaded_linear(x, weight.t())
    return output if bias is None else output + bias


def _conv1d_forward(self, x):
    return few_row_product(x, self.weight, self.bias)


def _linear_forward(self, x):
    return few_row_product(x, self.weight.t(), self.bias)


def _lay_out(weight: nn.Parameter, in_out: bool) -> None:
    """Lay `weight` (shape `[in, out]` if `in_out`, else `[out, in]`) out in memory as its dtype multiplies fastest
    (`OUT_IN_DTYPES`), keeping its shape and values; a layout set for another dtype before is undone."""
    if (weight.dtype in OUT_IN_DTYPES) == in_out:
        if weight.is_contiguous():
            _lay_out_transposed(weight)
    elif not weight.is_contiguous():
        weight.data = weight.data.contiguous()


def _lay_out_transposed(weight: nn.Parameter) -> None:
    """Lay `weight` (`[out, in]`) out in memory as `[in, out]` (its transpose contiguous), same values and shape. The
    parameter object stays the same, so ties, optimizers and hooks keep it; no other copy is kept."""
    weight.data = weight.data.t().contiguous().t()


def _contiguous_state_dict(module, state_dict, prefix, local_metadata) -> None:
    """A state-dict hook: the entries of `module` (keys under `prefix`) that `_lay_out` left non-contiguous are given
    as contiguous copies, which every serializer accepts (safetensors and Transformers' saving refuse or mis-view the
    others). Entries sharing a tensor (the tied LM head and token embedding) share one copy, so ties stay visible."""
    copies = {}
    for key, value in state_dict.items():
        if key.startswith(prefix) and isinstance(value, torch.Tensor) and not value.is_contiguous():
            layout = (value.untyped_storage().data_ptr(), value.storage_offset(), value.shape, value.stride())
            if layout not in copies:
                copies[layout] = value.contiguous()
            state_dict[key] = copies[layout]


def enable_cpu_decoding(model: nn.Module) -> nn.Module:
    """Make `model`'s `Conv1D` projections and its LM head (`lm_head`) split few-row products across threads, and
    return `model`. Call it after choosing the dtype (`model.to(torch.bfloat16)`): the layouts follow the dtype.

    Each weight is re-laid out once in memory as its dtype multiplies fastest (`OUT_IN_DTYPES`): in float32 the LM
    head's weight (the token embedding, when tied) becomes `[in, out]`; in bfloat16 and float16 the `Conv1D`
    weights become `[out, in]`. Shapes and values are unchanged, and each weight stays one parameter (the tied one
    shared by both uses), so every later edit is seen; `state_dict()` gives them contiguously (copies, the tied pair
    sharing one), so `save_pretrained`, Trainer checkpoints and safetensors' `save_model` write them as usual. A weight
    replaced later (a load with `assign=True`, a resize) keeps its own layout and takes the matching product,
    equally correct.

    Outputs equal the plain model's to float rounding (the tests check 1e-5 in float32; in bfloat16 and float16, as
    close to the float32 model's as the plain model's). It pays off for greedy, sampling or beam decoding on a CPU
    with two or more threads; training, GPUs and `torch.compile` take the plain path."""
    for module in model.modules():
        if isinstance(module, Conv1D):
            module.forward = types.MethodType(_conv1d_forward, module)
            _lay_out(module.weight, in_out=True)
    lm_head = getattr(model, "lm_head", None)
    if isinstance(lm_head, nn.Linear):
        lm_head.forward = types.MethodType(_linear_forward, lm_head)
        _lay_out(lm_head.weight, in_out=False)  # the token embedding too, when tied: they are one parameter
    if getattr(model, "_contiguous_state_dict_hook", None) is None:
        model._contiguous_state_dict_hook = model.register_state_dict_post_hook(_contiguous_state_dict)
    return model


__all__ = ["enable_cpu_decoding", "few_row_product", "threaded_matmul", "threaded_linear", "FEW_ROWS", "OUT_IN_DTYPES"]
