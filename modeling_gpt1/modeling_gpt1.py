"""GPT-1 (Radford et al., 2018): the post-LayerNorm decoder, its tied language-model head and the task heads that read
the final state of the `_classify_` (extract) token.

This file imports only torch, transformers and the configuration, so that `save_pretrained` can copy it next to the
weights and a folder loads with `trust_remote_code=True` where this package is not installed. It holds the model and
nothing else: speed-ups for one kind of hardware are opt-in and live in other modules.
"""

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.generation import StoppingCriteria, StoppingCriteriaList
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    MultipleChoiceModelOutput,
    SequenceClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, slice_logits_to_keep
from transformers.processing_utils import Unpack
from transformers.pytorch_utils import Conv1D
from transformers.utils import TransformersKwargs, can_return_tuple, logging
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.import_utils import is_tracing
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_gpt1 import GPT1Config


logger = logging.get_logger(__name__)

# Targets with this value are left out of every loss (PyTorch's and Transformers' convention).
IGNORE_INDEX = -100

# Activations run as one kernel computing the same function: the tanh GELU of GPT's release ("gelu_new", a chain of
# element-wise ops in Transformers) is torch's gelu(approximate="tanh"), which saves no intermediates for backward
# (a float32 GPT-1 training step on a CPU took 16-20% less time with it: benchmarks/README.md).
FUSED_ACTIVATIONS = {"gelu_new": "gelu_pytorch_tanh"}

# The keyword arguments a forward passes on besides its named ones: Transformers' attention, loss and output kwargs
# (`num_items_in_batch`, the flash-attention sequence lengths of packed rows, `output_attentions`, ...).
MODEL_KWARGS = frozenset(TransformersKwargs.__annotations__)


def check_model_kwargs(model: nn.Module, kwargs: dict) -> None:
    """Raise `TypeError` naming any keyword argument that no part of the forward reads: a misspelt or unsupported
    argument must not be dropped silently."""
    unknown = sorted(set(kwargs) - MODEL_KWARGS)
    if unknown:
        raise TypeError(
            f"{type(model).__name__}.forward() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"besides its named arguments it accepts Transformers' model kwargs: {', '.join(sorted(MODEL_KWARGS))}"
        )


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """softmax(q k^T * scaling + mask) v, returning the attention weights too.

    It also computes the calls that ask for attention weights under another backend (see `GPT1Attention`), for
    which `GPT1Model` builds the eager mask. `attention_mask`: an additive float mask (Transformers' eager mask) or a
    boolean one where True attends (a prepared 4D mask), broadcastable to `[batch, heads, q_len, kv_len]`, or None
    for causal attention over keys ending with the queries' own. Shapes: query `[batch, heads, q_len, head_dim]`, key
    and value `[batch, heads, kv_len, head_dim]`; returns `([batch, q_len, heads, head_dim], [batch, heads, q_len,
    kv_len])`."""
    weights = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is None:
        q_length, kv_length = weights.shape[-2:]
        attention_mask = torch.ones(q_length, kv_length, dtype=torch.bool, device=weights.device)
        attention_mask = attention_mask.tril(kv_length - q_length)
    if attention_mask.dtype == torch.bool:
        weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
    else:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2)
    return output, weights


class GPT1Attention(nn.Module):
    """Causal multi-head self-attention; query, key and value come from one packed projection, as in the release."""

    def __init__(self, config: GPT1Config, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.n_embd // config.n_head
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
        self.attention_dropout = config.attn_pdrop
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length = hidden_states.shape[:2]
        qkv = self.c_attn(hidden_states).view(batch, length, 3, -1, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, length, head_dim]
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        if kwargs.get("output_attentions"):  # the other backends do not return the weights
            if not isinstance(attention_mask, (torch.Tensor, type(None))):
                raise ValueError(
                    f"output_attentions=True computes attention eagerly, which cannot read a "
                    f"{type(attention_mask).__name__} attention mask (generate makes one for a static cache under "
                    "flex attention): pass a tensor mask, use a dynamic cache, or attn_implementation='eager'"
                )
            attention_interface = eager_attention_forward
        output, weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        output = output.reshape(batch, length, -1).contiguous()
        return self.resid_dropout(self.c_proj(output)), weights


class GPT1MLP(nn.Module):
    def __init__(self, config: GPT1Config):
        super().__init__()
        self.c_fc = Conv1D(config.feed_forward_width, config.n_embd)
        self.act = ACT2FN[FUSED_ACTIVATIONS.get(config.afn, config.afn)]
        self.c_proj = Conv1D(config.n_embd, config.feed_forward_width)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden_states))))


class GPT1Block(GradientCheckpointingLayer):
    """Post-LayerNorm block of the original Transformer: x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))."""

    def __init__(self, config: GPT1Config, layer_idx: int):
        super().__init__()
        self.attn = GPT1Attention(config, layer_idx)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT1MLP(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attn_output, _ = self.attn(hidden_states, attention_mask, cache=cache, **kwargs)
        hidden_states = self.ln_1(hidden_states + attn_output)
        return self.ln_2(hidden_states + self.mlp(hidden_states))


# The Auto classes of a saved folder's `auto_map` (the saved class itself is added by `save_pretrained`).
REMOTE_AUTO_MAP = {
    "AutoModel": "modeling_gpt1.GPT1Model",
    "AutoModelForCausalLM": "modeling_gpt1.GPT1LMHeadModel",
    "AutoModelForSequenceClassification": "modeling_gpt1.GPT1ForSequenceClassification",
    "AutoModelForMultipleChoice": "modeling_gpt1.GPT1ForMultipleChoice",
}


class GPT1PreTrainedModel(PreTrainedModel):
    config: GPT1Config
    config_class = GPT1Config
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules = ["GPT1Block"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = True
    _can_record_outputs = {
        "hidden_states": GPT1Block,
        "attentions": OutputRecorder(GPT1Attention, index=1),
    }

    def __init__(self, config: GPT1Config, *inputs, **kwargs):
        # The whole config again (`@strict` checks a field set after construction alone): e.g. an n_embd changed to
        # one n_head does not divide raises here, naming both, not as a reshape error in the first forward.
        config.validate()
        super().__init__(config, *inputs, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; when the classes are registered for remote code, the folder's `auto_map` names every head
        of this file, so that e.g. a language model's folder also loads as a classifier with trust_remote_code."""
        if self._auto_class is not None:
            self.config.auto_map = {**REMOTE_AUTO_MAP, **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def resize_token_embeddings(self, *args, **kwargs):
        """Resize as usual, then validate the config as Transformers does: a vocabulary that no longer holds a special
        token's id raises `StrictDataclassClassValidationError` (huggingface_hub) naming the id (set that
        `*_token_id` to an id inside the vocabulary, or to None, first)."""
        embeddings = super().resize_token_embeddings(*args, **kwargs)
        self.config.validate()
        return embeddings

    def _init_weights(self, module):
        """N(0, initializer_range) weights, zero biases, unit LayerNorm gains (the generic init), and the same for
        the blocks' `Conv1D` layers, which store their weights `[in, out]` as the release did."""
        super()._init_weights(module)
        if isinstance(module, Conv1D):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)


INDEX_DTYPES = (torch.long, torch.int32)  # what embeddings look up and cross-entropy targets are (int32 cast)


def is_index_tensor(tensor: torch.Tensor) -> bool:
    """Whether `tensor` holds ids or positions as torch indexes with (`INDEX_DTYPES`): other integer dtypes (uint8,
    int16, bool) fail deep inside the embedding or the loss."""
    return tensor.dtype in INDEX_DTYPES


def check_input_ids(name: str, ids: torch.Tensor, vocab_size: int) -> None:
    """Token ids `[batch, length]`, integers inside the vocabulary (the value check is skipped while tracing)."""
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape [batch, length], got {tuple(ids.shape)}")
    if not is_index_tensor(ids):
        raise ValueError(f"{name} must hold integer token ids (torch.long or torch.int32), got dtype {ids.dtype}")
    if 0 in ids.shape:
        raise ValueError(f"{name} has shape {tuple(ids.shape)}: every batch needs at least one sequence of one token")
    if not is_tracing(ids) and bool((ids.min() < 0) | (ids.max() >= vocab_size)):
        raise ValueError(
            f"{name} hold ids in [{int(ids.min())}, {int(ids.max())}] but the vocabulary has "
            f"vocab_size={vocab_size} entries (ids 0..{vocab_size - 1})"
        )


def check_attention_mask(
    attention_mask, batch: int, length: int, past_length: int, keys: int, config: GPT1Config
) -> None:
    """A 2D mask `[batch, cached + new tokens]` of 0/1 values (bool, integer, or floats exactly 0 or 1), or a prepared
    4D mask `[batch or 1, heads or 1, new tokens or 1, keys]` (`keys` as the cache holds them: its fixed size for a
    static cache), boolean (True attends) or additive (float, 0 to attend and a large negative number to mask, as
    Transformers' masking utilities make them); under flex attention, a `BlockMask` is taken as prepared. An integer
    or 0/1 float 4D mask would be read as additive, silently, so it is refused. The value checks are skipped while
    tracing."""
    if type(attention_mask).__name__ == "BlockMask":
        if config._attn_implementation != "flex_attention":
            raise ValueError(
                f"attention_mask is a BlockMask, flex attention's mask, but the model attends with "
                f"{config._attn_implementation!r}: load it with attn_implementation='flex_attention' or pass a tensor"
            )
        return
    if not isinstance(attention_mask, torch.Tensor):
        raise ValueError(f"attention_mask must be a tensor, got {type(attention_mask).__name__}")
    if attention_mask.dim() == 4:
        mask_batch, heads, queries, mask_keys = attention_mask.shape
        if (
            mask_batch not in (1, batch)
            or heads not in (1, config.n_head)
            or queries not in (1, length)
            or mask_keys != keys
        ):
            raise ValueError(
                f"a 4D attention_mask must have shape [batch or 1, heads or 1, new tokens or 1, keys] with batch "
                f"{batch}, {config.n_head} heads, {length} new tokens and {keys} keys, got {tuple(attention_mask.shape)}"
            )
        if attention_mask.dtype != torch.bool and not attention_mask.is_floating_point():
            raise ValueError(
                f"a 4D attention_mask must be boolean (True attends) or an additive float mask, got dtype "
                f"{attention_mask.dtype}"
            )
        if attention_mask.is_floating_point() and not is_tracing(attention_mask) and bool((attention_mask > 0).any()):
            raise ValueError(
                "a float 4D attention_mask is added to the attention scores (0 to attend, a large negative number to "
                "mask) and cannot hold positive values; pass a boolean mask (True attends) for a 0/1 one"
            )
        return
    if attention_mask.dim() != 2 or tuple(attention_mask.shape) != (batch, past_length + length):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but the inputs need [batch, cached + new "
            f"tokens] = {(batch, past_length + length)} (1 for tokens to attend to, 0 for padding), or a prepared "
            f"4D mask"
        )
    if (
        attention_mask.dtype != torch.bool
        and not is_tracing(attention_mask)
        and bool(((attention_mask != 0) & (attention_mask != 1)).any())
    ):
        raise ValueError(
            f"attention_mask must hold only 0 (padding) and 1 (token), got values "
            f"{attention_mask.unique().tolist()[:8]}"
        )


class GPT1Model(GPT1PreTrainedModel):
    """The GPT-1 decoder: token + learned position embeddings, then `n_layer` post-LN blocks (no final LayerNorm)."""

    def __init__(self, config: GPT1Config):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT1Block(config, i) for i in range(config.n_layer)])
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, new_embeddings):
        self.wte = new_embeddings

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPast:
        r"""
        input_ids: token ids `[batch, length]`; with a `cache`, only the tokens not cached yet.
        attention_mask: `[batch, cached + new tokens]`, 1 for tokens to attend to and 0 for padding (or a prepared 4D
            mask). Without `position_ids`, positions count the attended tokens, so left padding changes nothing.
        position_ids: `[batch, length]` indices into the `n_positions` learned position embeddings. Positions that
            restart at 0 within a row without an `attention_mask` mark packed documents (padding-free training):
            each attends only to itself, as Transformers' masking utilities detect them.
        token_type_ids: `[batch, length]` segment ids, embedded with the token embedding and added to the input, as
            Transformers' `openai-gpt` and GPT-2 do; GPT's own input transformations mark segments with
            `_delimiter_` instead and need none.
        inputs_embeds: `[batch, length, n_embd]` instead of `input_ids`.
        cache: a `Cache` of earlier keys and values (`past_key_values`, its former name, is still accepted with a
            deprecation warning).
        use_cache: return the cache (default `config.use_cache`; off under gradient checkpointing in training).

        Returns `BaseModelOutputWithPast` with `last_hidden_state` `[batch, length, n_embd]`. Raises `ValueError` for
        inputs of the wrong shape, dtype or range (value checks are skipped while tracing) and `TypeError` for an
        unknown keyword argument.
        """
        check_model_kwargs(self, kwargs)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            check_input_ids("input_ids", input_ids, self.config.vocab_size)
            inputs_embeds = self.wte(input_ids)
        elif inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.n_embd or 0 in inputs_embeds.shape:
            raise ValueError(
                f"inputs_embeds must have shape [batch, length, {self.config.n_embd}] with at least one token, got "
                f"{tuple(inputs_embeds.shape)}"
            )
        batch, length = inputs_embeds.shape[:2]

        new_cache = use_cache and cache is None
        if new_cache:
            cache = DynamicCache(config=self.config)
        past_length = cache.get_seq_length() if cache is not None else 0
        if attention_mask is not None:
            keys = cache.get_mask_sizes(length, 0)[0] if cache is not None else length
            check_attention_mask(attention_mask, batch, length, past_length, keys, self.config)
        if position_ids is None:
            position_ids = self._position_ids(attention_mask, batch, length, past_length, inputs_embeds.device)
            self._check_positions(
                position_ids,
                f"Sequence too long: {past_length + length} tokens ({past_length} cached + {length} new)",
            )
        else:
            self._check_positions(position_ids, "position_ids", expected_shape=(batch, length))
        hidden_states = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:
            check_input_ids("token_type_ids", token_type_ids, self.config.vocab_size)
            if token_type_ids.shape != (batch, length):
                raise ValueError(
                    f"token_type_ids has shape {tuple(token_type_ids.shape)} but the inputs have {(batch, length)}"
                )
            hidden_states = hidden_states + self.wte(token_type_ids)
        hidden_states = self.drop(hidden_states)

        mask_config = self.config
        if kwargs.get("output_attentions", self.config.output_attentions):
            kwargs["output_attentions"] = True  # so that every layer computes its weights (see GPT1Attention)
            if mask_config._attn_implementation != "eager":  # every layer then attends eagerly: its mask, not one
                mask_config = copy.copy(mask_config)  # that another backend reads its own way (sdpa's None)
                mask_config._attn_implementation = "eager"
        mask = create_causal_mask(
            config=mask_config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=None if new_cache else cache,  # an empty cache masks as none does, which detects packed rows
            position_ids=position_ids,
        )
        for block in self.h:
            hidden_states = block(hidden_states, mask, cache=cache, **kwargs)

        return BaseModelOutputWithPast(last_hidden_state=hidden_states, cache=cache if use_cache else None)

    def _check_positions(self, position_ids, what, expected_shape=None):
        """Positions inside the `n_positions` embeddings; given ones also of shape `[batch or 1, length]` (one row is
        broadcast over the batch, as in GPT-2) and of an integer dtype."""
        if expected_shape is not None:
            batch, length = expected_shape
            if position_ids.dim() != 2 or position_ids.shape[0] not in (1, batch) or position_ids.shape[1] != length:
                raise ValueError(
                    f"position_ids has shape {tuple(position_ids.shape)} but the inputs need [batch, length] = "
                    f"{expected_shape} (or [1, {length}], shared by every row)"
                )
            if not is_index_tensor(position_ids):
                raise ValueError(
                    f"position_ids must hold integer positions (torch.long or torch.int32), got dtype "
                    f"{position_ids.dtype}"
                )
        if not is_tracing(position_ids) and bool(
            (position_ids.min() < 0) | (position_ids.max() >= self.config.n_positions)
        ):
            raise ValueError(
                f"{what}: positions reach {int(position_ids.max())} but the model has only "
                f"n_positions={self.config.n_positions} position embeddings (positions 0..{self.config.n_positions - 1}); "
                f"truncate longer inputs (tokenizer(..., truncation=True, max_length={self.config.n_positions})); "
                'the text-generation pipeline keeps the end of a long prompt with handle_long_generation="hole"'
            )

    @staticmethod
    def _position_ids(attention_mask, batch, length, past_length, device):
        """Positions count attended tokens only, so a left-padded prompt sees the same positions as an unpadded one."""
        if isinstance(attention_mask, torch.Tensor) and attention_mask.dim() == 2:  # not a 4D or flex mask
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            return positions[:, -length:]
        return torch.arange(past_length, past_length + length, device=device).unsqueeze(0).expand(batch, -1)


class ContextLengthCriteria(StoppingCriteria):
    """Stops generating once the sequences fill the model's `n_positions` learned positions, the longest input it
    has position embeddings for. The batch stops as a whole, at its padded width: a row cannot go on alone, since
    `generate` still runs the finished ones, whose positions would pass the last embedding."""

    def __init__(self, n_positions: int, uncounted: int = 0):
        self.n_positions = n_positions
        self.uncounted = uncounted  # prompt tokens given as embeddings, which `input_ids` does not hold

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        is_done = self.uncounted + input_ids.shape[-1] >= self.n_positions
        if is_done:
            logger.warning_once(
                f"Generation stopped at the model's context length (n_positions={self.n_positions} tokens). A batch "
                "stops when its widest row, padding included, fills the context: generate a short prompt apart from "
                "long ones to continue it further."
            )
        return torch.full((input_ids.shape[0],), is_done, device=input_ids.device, dtype=torch.bool)


def left_align_right_padding(input_ids: torch.Tensor | None, kwargs: dict) -> tuple[torch.Tensor | None, dict]:
    """`input_ids` `[batch, length]` (or None) and the `attention_mask`, `token_type_ids` and `inputs_embeds`
    (`[batch, length, n_embd]`) in `kwargs` with each right-padded row's padding moved to its left; unchanged unless
    every row's zeros trail and some row has one."""
    mask = kwargs.get("attention_mask")
    if mask is None or mask.dim() != 2 or (input_ids is not None and input_ids.shape != mask.shape):
        return input_ids, kwargs
    width = mask.shape[-1]
    columns = torch.arange(width, device=mask.device)
    lengths = (mask != 0).sum(-1, keepdim=True)
    if not torch.equal(mask != 0, columns < lengths) or bool((lengths == width).all()):
        return input_ids, kwargs
    source = (columns - (width - lengths)) % width  # row i's column j reads column j - padding_i, wrapped around

    def move(tensor):
        return tensor.gather(1, source if tensor.dim() == 2 else source[..., None].expand_as(tensor))

    moved = {
        name: move(kwargs[name])
        for name in ("attention_mask", "token_type_ids", "inputs_embeds")
        if kwargs.get(name) is not None and kwargs[name].shape[:2] == mask.shape
    }
    return (move(input_ids) if input_ids is not None else None), {**kwargs, **moved}


def ignore_targets_after_padding(labels: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`labels` `[..., length]` with `IGNORE_INDEX` where the position predicting them is padding (`attention_mask`
    0 one column before, over the mask's last `length` columns, the cached ones before them): such a state saw no
    text and each attention backend fills it its own way, so a target it predicts (a left-padded row's first token)
    would make an example's loss depend on its padding."""
    predictor_is_padding = attention_mask[..., -labels.shape[-1] :][..., :-1] == 0
    return torch.cat([labels[..., :1], labels[..., 1:].masked_fill(predictor_is_padding, IGNORE_INDEX)], dim=-1)


def check_leading_padding_is_masked(input_ids: torch.Tensor, attention_mask, pad_token_id: int | None) -> None:
    """Raise ValueError when `attention_mask` attends a padding token that precedes a row's text: the mask was made
    for another layout, e.g. the right-padded prompts' mask extended over the sequences `generate` returned (which
    hold the prompts left-padded), and would mask text and attend padding."""
    if attention_mask is None or pad_token_id is None or attention_mask.shape != input_ids.shape:
        return
    leading_padding = (input_ids == pad_token_id).long().cummin(dim=-1).values.bool()  # pads before any text
    rows = ((attention_mask != 0) & leading_padding).any(dim=-1).nonzero().flatten().tolist()
    if rows and not is_tracing(input_ids):
        raise ValueError(
            f"attention_mask attends the padding before the text of row(s) {rows} (pad_token_id={pad_token_id}): it "
            "does not describe these input_ids. generate returns right-padded prompts moved to the left, so build a "
            "continuation's mask from the returned sequences: (sequences != pad_token_id).long()"
        )


class GPT1LMHeadModel(GPT1PreTrainedModel, GenerationMixin):
    """GPT-1 with its language-model head: logits = h W_e^T, the output softmax tied to the token embedding."""

    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: GPT1Config):
        super().__init__(config)
        # Transformers reads the loss from the class name, which does not say "ForCausalLM" here: named, Trainer
        # counts the shifted labels for `num_items_in_batch` (not every row's first label) and no warning is logged.
        self.loss_type = "ForCausalLM"
        self.transformer = GPT1Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def generate(self, inputs=None, *args, stopping_criteria: StoppingCriteriaList | None = None, **kwargs):
        """`GenerationMixin.generate`, stopping at the context length (`n_positions`) whatever length was asked.

        Right-padded prompts (an `attention_mask` whose zeros all trail), as ids or `inputs_embeds`, are moved to the
        left, as the library asks of decoder-only models, so each prompt of a batch generates what it generates
        alone whatever the tokenizer's `padding_side`; the returned sequences then hold the prompts left-padded."""
        criteria = StoppingCriteriaList(stopping_criteria or [])
        if inputs is None and kwargs.get("input_ids") is not None:
            inputs = kwargs.pop("input_ids")  # the same argument to `generate`
        embeds = kwargs.get("inputs_embeds")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        cached = cache is not None and cache.get_seq_length() > 0
        if not cached and kwargs.get("position_ids") is None:
            inputs, kwargs = left_align_right_padding(inputs, kwargs)
        if inputs is not None:
            check_leading_padding_is_masked(inputs, kwargs.get("attention_mask"), self.config.pad_token_id)
        # From `inputs_embeds`, the returned ids hold only what follows the embedded prompt (and any ids given).
        uncounted = embeds.shape[1] - (inputs.shape[-1] if inputs is not None else 0) if embeds is not None else 0
        criteria.append(ContextLengthCriteria(self.config.n_positions, uncounted))
        return super().generate(inputs, *args, stopping_criteria=criteria, **kwargs)

    def _get_candidate_generator(self, generation_config, input_ids, *args, **kwargs):
        """`GenerationMixin`'s proposer of tokens for assisted and prompt-lookup decoding, its proposals cut one
        short of the context: they are checked in one forward, which adds a token of its own, before any stopping
        criterion (`ContextLengthCriteria`), and Transformers' prompt lookup bounds only where its match ends, not
        how many tokens it proposes."""
        generator = super()._get_candidate_generator(generation_config, input_ids, *args, **kwargs)
        propose, last = generator.get_candidates, self.config.n_positions - 1  # proposals end before the last position

        def get_candidates(input_ids, **kwargs):
            candidate_ids, candidate_logits = propose(input_ids, **kwargs)
            keep = min(candidate_ids.shape[1], last)
            if keep <= input_ids.shape[1]:
                return input_ids, None  # no room: "no proposal", as Transformers' proposers say it
            if candidate_logits is not None:
                candidate_logits = candidate_logits[:, : keep - input_ids.shape[1]]
            return candidate_ids[:, :keep], candidate_logits

        generator.get_candidates = get_candidates  # the instance keeps its class (generate checks it)
        return generator

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        token_type_ids: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> CausalLMOutputWithPast:
        r"""
        The inputs are those of `GPT1Model.forward`, plus:

        labels: `[batch, length]` next-token targets aligned with the inputs (shifted inside), ids inside the
            vocabulary or -100 for positions to ignore. A target whose predicting position is padding (the first
            token of a left-padded row) is ignored too, so an example's loss does not depend on its padding.
        logits_to_keep: if > 0, compute logits for the last `logits_to_keep` positions only (generation needs one);
            a 1D tensor keeps those positions.

        Returns `CausalLMOutputWithPast` with `logits` `[batch, length (or kept), vocab_size]` and `loss`, the mean
        next-token cross-entropy in nats (Trainer-aware averaging over `num_items_in_batch`).
        """
        check_model_kwargs(self, kwargs)
        outputs: BaseModelOutputWithPast = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            cache=cache,
            use_cache=use_cache,
            **kwargs,
        )
        logits = self.lm_head(slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep))

        loss = None
        if labels is not None:
            self._check_labels(labels, outputs.last_hidden_state.shape[:2])
            labels = labels.long()
            if isinstance(attention_mask, torch.Tensor) and attention_mask.dim() == 2:
                labels = ignore_targets_after_padding(labels, attention_mask)
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)

        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def _check_labels(self, labels, input_shape):
        if tuple(labels.shape) != tuple(input_shape):
            raise ValueError(
                f"labels has shape {tuple(labels.shape)} but the inputs have {tuple(input_shape)}: language-model "
                f"labels are the input ids themselves (shifted inside), {IGNORE_INDEX} where no loss is wanted"
            )
        if not is_index_tensor(labels):
            raise ValueError(
                f"labels must hold integer token ids (torch.long or torch.int32), got dtype {labels.dtype}"
            )
        vocab_size = self.config.vocab_size
        if not is_tracing(labels) and bool(
            ((labels < 0) & (labels != IGNORE_INDEX)).any() | (labels >= vocab_size).any()
        ):
            raise ValueError(
                f"labels hold ids in [{int(labels.min())}, {int(labels.max())}] but the vocabulary has "
                f"vocab_size={vocab_size} entries (valid: 0..{vocab_size - 1}, or {IGNORE_INDEX} to ignore)"
            )


class GPT1TaskHeadModel(GPT1PreTrainedModel):
    """Base of the fine-tuning heads: run the decoder on GPT's transformed input and read the final hidden state of
    the first extract (`_classify_`) token of every sequence.

    Inputs are `[batch, length]`, or `[batch, n_sequences, length]` for examples made of several sequences (the two
    orderings of a similarity pair, the answers of a multiple-choice question). A head defines
    `score(extract_states)`, which receives `[batch, n_sequences, n_embd]`, and `task_loss(logits, labels)`. Splitting
    the forward this way lets the auxiliary-LM wrapper run the decoder once and reuse its states for both losses.
    """

    output_class = SequenceClassifierOutput
    accepts_loss_kwargs = False  # the task loss is a mean over the batch: Trainer scales it for gradient accumulation
    n_sequences: int | None = None  # sequences per example this head requires (None: any number)
    needs_sequence_dim = False  # whether input_ids must be [batch, n_sequences, length]

    def __init__(self, config: GPT1Config):
        super().__init__(config)
        self.transformer = GPT1Model(config)
        self.dropout = nn.Dropout(config.classifier_dropout)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> SequenceClassifierOutput | MultipleChoiceModelOutput:
        r"""
        input_ids: `[batch, length]` or `[batch, n_sequences, length]` built by GPT's input transformations
            (`modeling_gpt1.transforms`); each sequence holds an attended extract token.
        attention_mask, position_ids, token_type_ids: as for `GPT1Model.forward`, with the shape of `input_ids`.
        labels: class ids `[batch]`, float targets for regression (`num_labels == 1`), float 0/1 targets
            `[batch, num_labels]` for multi-label classification, or for multiple choice the index of the right answer.
        inputs_embeds: not supported: the heads locate the extract token in `input_ids` (a clear `ValueError`).
        lm_labels (keyword): targets of the auxiliary LM loss made by `GPT1DataCollator`; only `GPT1WithAuxiliaryLM`
            reads them and a plain head ignores them. Not a named parameter, so that Trainer takes `labels` alone
            for the label ids.

        Returns logits `[batch, num_labels]` (or `[batch, n_choices]`) and the task loss. Raises `ValueError` for
        inputs or labels of the wrong shape or range, sequences without an attended extract token, and non-finite
        regression targets; `TypeError` for an unknown keyword argument.
        """
        kwargs.pop("lm_labels", None)
        check_model_kwargs(self, kwargs)
        if inputs_embeds is not None:
            raise ValueError(f"{type(self).__name__} needs input_ids: the extract token is located from them")
        outputs, logits = self.decode_and_score(input_ids, attention_mask, position_ids, token_type_ids, **kwargs)
        loss = self.task_loss(logits, labels) if labels is not None else None
        return self.output_class(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def decode_and_score(self, input_ids, attention_mask=None, position_ids=None, token_type_ids=None, **kwargs):
        """One decoder pass over every sequence and the head's logits: `(decoder outputs, logits)`. The decoder's
        `last_hidden_state` is flattened to `[batch * n_sequences, length, n_embd]`."""
        inputs = self.flatten_inputs(input_ids, attention_mask, position_ids, token_type_ids)
        outputs = self.transformer(**inputs, use_cache=False, **kwargs)
        states = self.extract_states(outputs.last_hidden_state, input_ids, inputs["attention_mask"])
        return outputs, self.score(states)

    def flatten_inputs(self, input_ids, attention_mask=None, position_ids=None, token_type_ids=None) -> dict:
        """Check the input layout and fold the sequences of every example into the batch dimension."""
        name = type(self).__name__
        if input_ids is None:
            raise ValueError(f"{name} needs input_ids: the extract token is located from them")
        if self.config.extract_token_id is None:
            raise ValueError(
                f"{name} reads the state of the extract token, but config.extract_token_id is None; set it to the id "
                "of `_classify_` (modeling_gpt1.add_special_tokens adds GPT's tokens to a model and tokenizer)"
            )
        bad_rank = input_ids.dim() not in (2, 3) or (input_ids.dim() == 2 and self.needs_sequence_dim)
        bad_count = input_ids.dim() == 3 and self.n_sequences not in (None, input_ids.shape[1])
        if bad_rank or bad_count:
            layout = f"[batch, {self.n_sequences or 'n_sequences'}, length]"
            raise ValueError(
                f"{name} expects input_ids {layout}, got shape {tuple(input_ids.shape)}; build the sequences of each "
                "example with modeling_gpt1.InputTransform (families 'similarity', 'multiple_choice') and "
                "GPT1DataCollator, or for text pairs use pipeline('text-classification') with this package imported "
                "(modeling_gpt1.GPT1TextClassificationPipeline)"
            )
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "token_type_ids": token_type_ids,
        }
        for key, value in inputs.items():
            if value is not None and value.shape != input_ids.shape:
                raise ValueError(f"{key} has shape {tuple(value.shape)} but input_ids has {tuple(input_ids.shape)}")
        return {
            key: None if value is None else value.reshape(-1, input_ids.shape[-1]) for key, value in inputs.items()
        }

    def extract_states(self, hidden_states, input_ids, attention_mask=None):
        """Final hidden state at the first extract token of each sequence: `[batch, n_sequences, n_embd]`. Raises
        `ValueError` when a sequence has no extract token, or its extract token is masked out by `attention_mask`
        (`[batch * n_sequences, length]`); the checks are skipped while tracing."""
        flat_ids = input_ids.reshape(-1, input_ids.shape[-1])
        is_extract = flat_ids == self.config.extract_token_id
        positions = is_extract.int().argmax(dim=-1)
        rows = torch.arange(flat_ids.shape[0], device=flat_ids.device)
        if not is_tracing(flat_ids):
            missing = (~is_extract.any(dim=-1)).nonzero().flatten().tolist()
            if missing:
                raise ValueError(
                    f"sequence(s) {missing} of the (flattened) batch have no extract token (id "
                    f"{self.config.extract_token_id}); build inputs with modeling_gpt1.transforms"
                )
            if attention_mask is not None and attention_mask.dim() == 2:
                masked = (attention_mask[rows, positions] == 0).nonzero().flatten().tolist()
                if masked:
                    raise ValueError(
                        f"sequence(s) {masked} of the (flattened) batch have their extract token masked out by "
                        "attention_mask (0 at its position): the head would read a state the model did not attend to"
                    )
        states = hidden_states[rows, positions]
        return states.view(input_ids.shape[0], -1, states.shape[-1])

    def score(self, extract_states):
        raise NotImplementedError

    def task_loss(self, logits, labels, label_smoothing: float = 0.0):
        """Cross-entropy over classes (or answers), mean squared error when the head regresses one value, or binary
        cross-entropy per label for multi-label classification; see `problem_type`. `label_smoothing` (in [0, 1))
        smooths the single-label cross-entropy as `F.cross_entropy` does (Trainer's `label_smoothing_factor` gives
        the same loss); raises ValueError for it with any other problem type."""
        if labels.shape[0] != logits.shape[0]:
            raise ValueError(f"got {labels.shape[0]} labels for a batch of {logits.shape[0]} examples")
        problem_type = self.problem_type(labels)
        if label_smoothing and problem_type != "single_label_classification":
            raise ValueError(f"label smoothing applies to class ids, not to {problem_type.replace('_', ' ')}")
        if problem_type == "regression":
            if labels.numel() != logits.shape[0]:
                raise ValueError(
                    f"regression takes one float target per example ([batch]), got labels of shape {tuple(labels.shape)}"
                )
            self._check_float_labels(labels, "regression labels", "finite (not NaN or inf)", torch.isfinite)
            return F.mse_loss(logits.view(-1), labels.to(logits.dtype).view(-1))
        if problem_type == "multi_label_classification":
            if labels.shape != logits.shape:
                raise ValueError(
                    f"multi-label targets must have shape [batch, num_labels] = {tuple(logits.shape)} (one 0/1 "
                    f"column per label), got {tuple(labels.shape)}"
                )
            self._check_float_labels(
                labels, "multi-label targets", "in [0, 1]", lambda values: (values >= 0) & (values <= 1)
            )
            return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        if labels.numel() != labels.shape[0]:
            raise ValueError(
                f"single-label classification takes one class id per example ([batch]), got labels of shape "
                f"{tuple(labels.shape)}; for 0/1 targets per label set problem_type='multi_label_classification'"
            )
        self._check_float_labels(labels, "class ids", "whole numbers", lambda values: values == values.round())
        labels = labels.view(-1).long()
        n_classes = logits.shape[-1]
        if not is_tracing(labels) and bool(
            ((labels < 0) & (labels != IGNORE_INDEX)).any() | (labels >= n_classes).any()
        ):
            raise ValueError(
                f"labels {labels.tolist()} out of range: {type(self).__name__} predicts {n_classes} "
                f"{'answers' if self.needs_sequence_dim else 'classes'} (valid: 0..{n_classes - 1}, or {IGNORE_INDEX} to ignore)"
            )
        return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)

    @staticmethod
    def _check_float_labels(labels, what, requirement, is_valid):
        """Raise `ValueError` naming the examples whose float labels are not `requirement` (`is_valid`; NaN never
        passes); integer labels and traced calls are not checked."""
        if labels.is_floating_point() and not is_tracing(labels):
            values = labels.float().reshape(labels.shape[0], -1)
            bad = (~(is_valid(values) & torch.isfinite(values)).all(dim=-1)).nonzero().flatten().tolist()
            if bad:
                raise ValueError(
                    f"{what} of example(s) {bad} are not {requirement}: {values[bad].flatten().tolist()[:8]}"
                )

    def problem_type(self, labels) -> str:
        """`config.problem_type` when set, else inferred as Transformers' classification heads do: regression for one
        label, multi-label classification for float targets, single-label classification for class ids."""
        if self.config.problem_type is not None:
            return self.config.problem_type
        if self.config.num_labels == 1:
            return "regression"
        return "multi_label_classification" if labels.is_floating_point() else "single_label_classification"


class GPT1ForSequenceClassification(GPT1TaskHeadModel):
    """Classification `[start] text [extract]` and entailment `[start] premise [delim] hypothesis [extract]`: a linear
    layer on the extract state; regression (MSE) when `num_labels == 1`, multi-label (one sigmoid per label) with
    `problem_type="multi_label_classification"` or float targets `[batch, num_labels]`.

    Given `[batch, n_sequences, length]` it adds the extract states of an example's sequences before the linear layer,
    which is how GPT scores a similarity pair; `GPT1ForSimilarity` is that use with exactly two orderings."""

    def __init__(self, config: GPT1Config):
        super().__init__(config)
        self.classifier = nn.Linear(config.n_embd, config.num_labels)
        self.post_init()

    def score(self, extract_states):
        return self.classifier(self.dropout(extract_states.sum(dim=1)))


class GPT1ForSimilarity(GPT1ForSequenceClassification):
    """Similarity: `[start] A [delim] B [extract]` and `[start] B [delim] A [extract]` both go through the decoder
    (input_ids `[batch, 2, length]`); their extract states are added element-wise before the linear layer, so the
    prediction does not depend on the order of the pair. Classification, or regression when `num_labels == 1`."""

    n_sequences = 2
    needs_sequence_dim = True


class GPT1ForMultipleChoice(GPT1TaskHeadModel):
    """Multiple choice: one `[start] context [delim] answer_k [extract]` sequence per answer (input_ids
    `[batch, n_choices, length]`), one scalar score each, softmax cross-entropy over the answers.

    As in the released code, classifier dropout uses one mask per example shared by all of its answers, so that the
    answers are compared on the same features."""

    output_class = MultipleChoiceModelOutput
    needs_sequence_dim = True

    def __init__(self, config: GPT1Config):
        super().__init__(config)
        self.classifier = nn.Linear(config.n_embd, 1)
        self.post_init()

    def score(self, extract_states):
        shared_mask = self.dropout(extract_states.new_ones(extract_states[:, :1].shape))
        return self.classifier(extract_states * shared_mask).squeeze(-1)

    def problem_type(self, labels) -> str:
        return "single_label_classification"  # the index of the right answer, whatever the config says
