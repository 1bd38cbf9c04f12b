"""Transferring only the first k pre-trained blocks (Radford et al. 2018, Figure 2, left).

The paper fine-tunes models that keep the pre-trained embeddings and the first k Transformer blocks while the
blocks above start from a fresh initialisation, and finds that every transferred block helps.
"""

import logging

import torch


logger = logging.getLogger(__name__)


def load_with_transferred_layers(model_class, pretrained_path, num_transferred_layers: int, **from_pretrained_kwargs):
    """Load `pretrained_path` into `model_class`, keeping the embeddings and the first `num_transferred_layers` blocks.

    Blocks `num_transferred_layers`, ..., `n_layer - 1` are re-initialised with the model's own `_init_weights`
    (N(0, initializer_range) weights, zero biases, unit LayerNorm gains); heads absent from the checkpoint are
    initialised by `from_pretrained` as usual. `0` keeps only the token and position embeddings, `n_layer` the whole
    pre-trained stack.

    Args:
        model_class: `GPT1Model`, `GPT1LMHeadModel` or a task head class whose backbone is `.transformer`.
        pretrained_path: a folder or Hub id that `model_class.from_pretrained` accepts.
        num_transferred_layers: k, the number of pre-trained blocks to keep, in `0..n_layer`.
        **from_pretrained_kwargs: passed to `from_pretrained` (e.g. `num_labels`, `attn_implementation`, `dtype`).

    Returns:
        The model, with blocks k.. freshly initialised. Seed with `torch.manual_seed` for a reproducible draw.

    Example:
        >>> model = load_with_transferred_layers(GPT1ForSequenceClassification, "gpt1-base", 6, num_labels=3)
    """
    k = num_transferred_layers
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"num_transferred_layers must be an integer, got {type(k).__name__}")
    model = model_class.from_pretrained(pretrained_path, **from_pretrained_kwargs)
    blocks = getattr(model.base_model, "h", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        raise TypeError(f"{model_class.__name__} has no GPT-1 block list (`.h` on its base model) to transfer from")
    if not 0 <= k <= len(blocks):
        raise ValueError(
            f"num_transferred_layers={k} is out of range: the model has n_layer={len(blocks)} blocks, "
            f"so choose 0 (embeddings only) to {len(blocks)} (every block)"
        )
    reinitialize_blocks(model, range(k, len(blocks)))
    logger.info("Transferred the embeddings and blocks 0..%d; re-initialised blocks %d..%d", k - 1, k, len(blocks) - 1)
    return model


@torch.no_grad()
def reinitialize_blocks(model, indices) -> None:
    """Draw fresh weights for the blocks `model.base_model.h[i]`, `i` in `indices`, with `model._init_weights`.

    `from_pretrained` flags every loaded tensor with `_is_hf_initialized`, and Transformers' init functions leave
    flagged tensors untouched, so the flags of these blocks are cleared first.
    """
    for i in indices:
        block = model.base_model.h[i]
        for module in block.modules():
            module._is_hf_initialized = False
            for tensor in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
                tensor._is_hf_initialized = False
        block.apply(model._init_weights)


__all__ = ["load_with_transferred_layers", "reinitialize_blocks"]
