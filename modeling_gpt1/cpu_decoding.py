"""Opt-in speed-ups for generating on a CPU: `enable_cpu_decoding(model)`.

A decoding step multiplies one row (a few with beams or batches) by every weight matrix: a matrix-vector product
bound by how fast the weight is read, and one BLAS call streams it on about one core. Here the products of a few
rows split the weight into one slab per thread, multiplied as a batch, which reads it about 1.5x faster on two cores
(`benchmarks/README.md`). The slabs are views of the weights as stored, read at every call: nothing is copied or
cached, so in-place edits, loads, resizes and adapter merges are seen at once. Anything else (autograd, other
devices, compiled graphs, longer inputs) takes the modules' own forward. The model file itself never does this, so
that every Hub user of `trust_remote_code` runs the plain model.
"""

import contextlib
import math
import types

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.pytorch_utils import Conv1D


# Rows (batch x new tokens) up to which a product splits across threads: decoding steps, beams and short prompts,
# where one BLAS call leaves a core idle; longer inputs are compute-bound and already well threaded.
FEW_ROWS = 64

# The same function as one fused kernel instead of a chain of element-wise ops.
FUSED_ACTIVATIONS = {"gelu_new": "gelu_pytorch_tanh"}


def _splits(x: torch.Tensor, weight: torch.Tensor) -> int:
    """How many equal slabs of `weight`'s rows (as stored) to use for `x`, or 1 for the plain product."""
    if torch.compiler.is_compiling() or torch.is_grad_enabled() or x.device.type != "cpu":
        return 1
    if x.shape[:-1].numel() > FEW_ROWS:
        return 1
    return math.gcd(torch.get_num_threads(), weight.shape[0])  # equal slabs, at most one a thread


def threaded_matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`x @ weight (+ bias)` for `x` `[..., in]` and `weight` `[in, out]` (a `Conv1D` weight). A few rows without
    autograd on a CPU cut the weight's `in` rows into one contiguous slab per thread and sum the partial products."""
    rows = x.shape[:-1].numel()
    splits = _splits(x, weight)
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


def _conv1d_forward(self, x):
    return threaded_matmul(x, self.weight, self.bias)


def _linear_forward(self, x):
    if self.bias is not None:
        return nn.functional.linear(x, self.weight, self.bias)
    if self.weight.t().is_contiguous():  # stored [in, out] (see enable_cpu_decoding): the faster product
        return threaded_matmul(x, self.weight.t())
    return threaded_linear(x, self.weight)


def _lay_out_transposed(weight: nn.Parameter) -> None:
    """Lay `weight` (`[out, in]`) out in memory as `[in, out]` (its transpose contiguous), same values and shape. The
    parameter object stays the same, so ties, optimizers and hooks keep it; no other copy is kept."""
    weight.data = weight.data.t().contiguous().t()


@contextlib.contextmanager
def _contiguous_parameters(model: nn.Module):
    """Parameters laid out contiguously for the duration (what Transformers' saving expects), then as they were."""
    relaid = [parameter for parameter in model.parameters() if not parameter.is_contiguous()]
    for parameter in relaid:
        parameter.data = parameter.data.contiguous()
    try:
        yield
    finally:
        for parameter in relaid:
            _lay_out_transposed(parameter)


def _save_pretrained(self, *args, **kwargs):
    with _contiguous_parameters(self):
        return type(self).save_pretrained(self, *args, **kwargs)


def enable_cpu_decoding(model: nn.Module) -> nn.Module:
    """Make `model`'s `Conv1D` projections and its LM head (`lm_head`) split few-row products across threads, and
    run the tanh GELU as one fused kernel (`gelu_pytorch_tanh`, the same function as `gelu_new`). Returns `model`.

    The LM head's weight (the token embedding, when tied) is re-laid out once in memory as `[in, out]`, the layout
    that a CPU streams fastest for a matrix-vector product (its shape and values are unchanged, and it stays one
    parameter shared by both uses, so every later edit is seen by both; `save_pretrained` writes it contiguously as
    usual). A weight replaced later (a load with `assign=True`, a resize) keeps its own layout and takes the slower
    split product, equally correct.

    Outputs equal the plain model's to float rounding (the tests check 1e-5). It pays off for greedy, sampling or
    beam decoding on a CPU with two or more threads; training, GPUs and `torch.compile` take the plain path."""
    for module in model.modules():
        if isinstance(module, Conv1D):
            module.forward = types.MethodType(_conv1d_forward, module)
        if hasattr(module, "act") and getattr(module.act, "__class__", None) is ACT2FN["gelu_new"].__class__:
            module.act = ACT2FN[FUSED_ACTIVATIONS["gelu_new"]]
    lm_head = getattr(model, "lm_head", None)
    if isinstance(lm_head, nn.Linear):
        lm_head.forward = types.MethodType(_linear_forward, lm_head)
        _lay_out_transposed(lm_head.weight)  # the token embedding too, when tied: they are one parameter
        model.save_pretrained = types.MethodType(_save_pretrained, model)
    return model


__all__ = ["enable_cpu_decoding", "threaded_matmul", "threaded_linear", "FEW_ROWS"]
