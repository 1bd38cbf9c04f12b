"""GPT-1 (Radford et al., 2018): the post-LayerNorm decoder, its tied language-model head and the task heads that read
the final state of the `_classify_` (extract) token.

This file imports only torch, transformers and the configuration, so that `save_pretrained` can copy it next to the
weights and a folder loads with `trust_remote_code=True` where this package is not installed.
"""

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    MultipleChoiceModelOutput,
    SequenceClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.pytorch_utils import Conv1D

from .configuration_gpt1 import GPT1Config


# Targets with this value are left out of every loss (PyTorch's and Transformers' convention).
IGNORE_INDEX = -100


# Rows (batch x new tokens) up to which a CPU product splits its input dimension across threads: decoding steps,
# beams and short prompts, where one BLAS call leaves a core idle; longer inputs are compute-bound and well threaded.
FEW_ROWS = 64


def threaded_matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight (+ bias), for x [..., in] and weight [in, out].

    A few rows on a CPU without autograd (a decoding step) make a matrix-vector product bound by how fast the weight
    is read, and one BLAS call streams it on about one core. Here the weight's `in` rows are cut into one contiguous
    slab per thread, multiplied as a batch and the partial products summed: on two cores the weight is read about
    1.5x faster. Anything else, compiled graphs included, takes the plain product."""
    splits = math.gcd(torch.get_num_threads(), weight.shape[0])  # slabs of equal height, at most one a thread
    rows = x.shape[:-1].numel()
    if (
        splits < 2
        or rows > FEW_ROWS
        or x.device.type != "cpu"
        or torch.is_grad_enabled()
        or torch.compiler.is_compiling()
    ):
        flat = x.reshape(rows, x.shape[-1])
        output = flat @ weight if bias is None else torch.addmm(bias, flat, weight)
    else:
        slab = weight.shape[0] // splits
        partial = torch.bmm(x.reshape(rows, splits, slab).transpose(0, 1), weight.view(splits, slab, -1))
        output = partial.sum(0) if bias is None else partial.sum(0).add_(bias)
    return output.view(*x.shape[:-1], weight.shape[-1])


class GPT1Conv1D(Conv1D):
    """Transformers' `Conv1D`, a linear layer storing its weight `[in, out]` as the released checkpoint does (a layout
    that CPUs stream faster for the matrix-vector products of decoding), computed by `threaded_matmul`."""

    def forward(self, x):
        return threaded_matmul(x, self.weight, self.bias)


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Plain softmax(q k^T / sqrt(d) + mask) v; the reference the other backends are checked against."""
    weights = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
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
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
        self.attention_dropout = config.attn_pdrop
        self.c_attn = GPT1Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = GPT1Conv1D(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states, attention_mask=None, cache: Cache | None = None, **kwargs):
        batch, length, width = hidden_states.shape
        qkv = self.c_attn(hidden_states).view(batch, length, 3, self.n_head, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, length, head_dim]
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
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
        output = output.reshape(batch, length, width)
        return self.resid_dropout(self.c_proj(output)), weights


# The same function as one fused kernel instead of a chain of element-wise ops.
FUSED_ACTIVATIONS = {"gelu_new": "gelu_pytorch_tanh"}


class GPT1MLP(nn.Module):
    def __init__(self, config: GPT1Config):
        super().__init__()
        self.c_fc = GPT1Conv1D(config.n_inner, config.n_embd)
        self.act = ACT2FN[FUSED_ACTIVATIONS.get(config.afn, config.afn)]
        self.c_proj = GPT1Conv1D(config.n_embd, config.n_inner)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states):
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden_states))))


class GPT1Block(GradientCheckpointingLayer):
    """Post-LayerNorm block of the original Transformer: x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))."""

    def __init__(self, config: GPT1Config, layer_idx: int):
        super().__init__()
        self.attn = GPT1Attention(config, layer_idx)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT1MLP(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, hidden_states, attention_mask=None, cache: Cache | None = None, **kwargs):
        attn_output, weights = self.attn(hidden_states, attention_mask, cache=cache, **kwargs)
        hidden_states = self.ln_1(hidden_states + attn_output)
        hidden_states = self.ln_2(hidden_states + self.mlp(hidden_states))
        return hidden_states, weights


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

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; when the classes are registered for remote code, the folder's `auto_map` names every head
        of this file, so that e.g. a language model's folder also loads as a classifier with trust_remote_code."""
        if self._auto_class is not None:
            self.config.auto_map = {**REMOTE_AUTO_MAP, **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _init_weights(self, module):
        """N(0, initializer_range) weights, zero biases, unit LayerNorm gains (the generic init), and the same for
        the blocks' `Conv1D` layers, which store their weights `[in, out]` as the release did: a layout that
        matrix-vector products stream faster on CPUs, which is what decoding one token at a time is made of."""
        super()._init_weights(module)
        if isinstance(module, Conv1D):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)


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

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        use_cache = (self.config.use_cache and not self.training) if use_cache is None else use_cache
        if output_attentions and self.config._attn_implementation != "eager":
            raise ValueError(
                f"output_attentions=True needs attn_implementation='eager' (this model uses "
                f"'{self.config._attn_implementation}', which does not return attention weights)"
            )

        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            self._check_token_ids(input_ids)
            inputs_embeds = self.wte(input_ids)
        elif inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.n_embd:
            raise ValueError(
                f"inputs_embeds must have shape [batch, length, {self.config.n_embd}], got {tuple(inputs_embeds.shape)}"
            )
        batch, length = inputs_embeds.shape[:2]

        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past_length = cache.get_seq_length() if cache is not None else 0
        if past_length + length > self.config.n_positions:
            raise ValueError(
                f"Sequence too long: {past_length + length} tokens ({past_length} cached + {length} new) but the "
                f"model has only n_positions={self.config.n_positions} position embeddings"
            )
        if (
            attention_mask is not None
            and attention_mask.dim() == 2
            and tuple(attention_mask.shape) != (batch, past_length + length)
        ):
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)} but the inputs need "
                f"[batch, cached + new tokens] = {(batch, past_length + length)}"
            )
        if position_ids is None:
            position_ids = self._position_ids(attention_mask, batch, length, past_length, inputs_embeds.device)

        hidden_states = self.drop(inputs_embeds + self.wpe(position_ids))
        mask = create_causal_mask(
            config=self.config, inputs_embeds=inputs_embeds, attention_mask=attention_mask, cache=cache
        )

        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.h:
            hidden_states, weights = block(hidden_states, mask, cache=cache, **kwargs)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            cache=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )
        return output if return_dict else output.to_tuple()

    def _check_token_ids(self, input_ids):
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape [batch, length], got {tuple(input_ids.shape)}")
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"input_ids hold ids in [{int(input_ids.min())}, {int(input_ids.max())}] but the vocabulary has "
                f"vocab_size={self.config.vocab_size} entries (ids 0..{self.config.vocab_size - 1})"
            )

    @staticmethod
    def _position_ids(attention_mask, batch, length, past_length, device):
        """Positions count real tokens only, so a left-padded prompt sees the same positions as an unpadded one."""
        if attention_mask is not None and attention_mask.dim() == 2:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            return positions[:, -length:]
        return torch.arange(past_length, past_length + length, device=device).unsqueeze(0).expand(batch, -1)


class GPT1LMHeadModel(GPT1PreTrainedModel, GenerationMixin):
    """GPT-1 with its language-model head: logits = h W_e^T, the output softmax tied to the token embedding."""

    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}
    _output_matrix: tuple | None = None  # (key, W_e^T contiguous) for CPU inference, see `output_logits`

    def __init__(self, config: GPT1Config):
        super().__init__(config)
        self.loss_type = "ForCausalLM"  # shifted next-token cross-entropy, -100 ignored, Trainer-aware averaging
        self.transformer = GPT1Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        r"""
        labels: next-token targets aligned with `input_ids` (shifted inside); -100 marks positions to ignore.
        logits_to_keep: if > 0, compute logits for the last `logits_to_keep` positions only (generation needs one).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            cache=cache,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = self.output_logits(hidden_states)

        loss = None
        if labels is not None:
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)

        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict else output.to_tuple()

    def output_logits(self, hidden_states):
        """h W_e^T. Without autograd on a CPU it multiplies by a cached contiguous copy of W_e^T instead: decoding
        makes one row of logits a step, a matrix-vector product that CPUs stream about 1.6x faster from an [in, out]
        matrix than from the [vocab, width] embedding, and that `threaded_matmul` spreads over the threads. The copy is
        remade whenever the embedding changes."""
        weight = self.lm_head.weight
        if torch.is_grad_enabled() or weight.device.type != "cpu":
            return self.lm_head(hidden_states)
        key = (weight.data_ptr(), weight._version, weight.shape, weight.dtype)
        if self._output_matrix is None or self._output_matrix[0] != key:
            self._output_matrix = (key, weight.t().contiguous())
        return threaded_matmul(hidden_states, self._output_matrix[1])


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

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        r"""
        labels: class ids `[batch]`, float targets for regression (`num_labels == 1`), float 0/1 targets
        `[batch, num_labels]` for multi-label classification, or for multiple choice the index of the right answer.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        kwargs.pop("lm_labels", None)  # made by the collators for the auxiliary LM loss; unused without it
        outputs, logits = self.decode_and_score(
            input_ids,
            attention_mask,
            position_ids,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        loss = self.task_loss(logits, labels) if labels is not None else None
        output = self.output_class(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict else output.to_tuple()

    def decode_and_score(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        """One decoder pass over every sequence and the head's logits: `(decoder outputs, logits)`. The decoder's
        `last_hidden_state` is flattened to `[batch * n_sequences, length, n_embd]`."""
        outputs = self.transformer(
            **self.flatten_inputs(input_ids, attention_mask, position_ids), use_cache=False, return_dict=True, **kwargs
        )
        return outputs, self.score(self.extract_states(outputs.last_hidden_state, input_ids))

    def flatten_inputs(self, input_ids, attention_mask=None, position_ids=None) -> dict:
        """Check the input layout and fold the sequences of every example into the batch dimension."""
        name = type(self).__name__
        if input_ids is None:
            raise ValueError(f"{name} needs input_ids: the extract token is located from them")
        bad_rank = input_ids.dim() not in (2, 3) or (input_ids.dim() == 2 and self.needs_sequence_dim)
        bad_count = input_ids.dim() == 3 and self.n_sequences not in (None, input_ids.shape[1])
        if bad_rank or bad_count:
            layout = f"[batch, {self.n_sequences or 'n_sequences'}, length]"
            raise ValueError(f"{name} expects input_ids {layout}, got shape {tuple(input_ids.shape)}")
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
        for key, value in inputs.items():
            if value is not None and value.shape != input_ids.shape:
                raise ValueError(f"{key} has shape {tuple(value.shape)} but input_ids has {tuple(input_ids.shape)}")
        return {
            key: None if value is None else value.reshape(-1, input_ids.shape[-1]) for key, value in inputs.items()
        }

    def extract_states(self, hidden_states, input_ids):
        """Final hidden state at the first extract token of each sequence: `[batch, n_sequences, n_embd]`."""
        flat_ids = input_ids.reshape(-1, input_ids.shape[-1])
        is_extract = flat_ids == self.config.extract_token_id
        has_extract = is_extract.any(dim=-1)
        if not bool(has_extract.all()):
            missing = (~has_extract).nonzero().flatten().tolist()
            raise ValueError(
                f"sequence(s) {missing} of the (flattened) batch have no extract token (id "
                f"{self.config.extract_token_id}); build inputs with modeling_gpt1.transforms"
            )
        positions = is_extract.int().argmax(dim=-1)
        states = hidden_states[torch.arange(flat_ids.shape[0], device=flat_ids.device), positions]
        return states.view(input_ids.shape[0], -1, states.shape[-1])

    def score(self, extract_states):
        raise NotImplementedError

    def task_loss(self, logits, labels):
        """Cross-entropy over classes (or answers), mean squared error when the head regresses one value, or binary
        cross-entropy per label for multi-label classification; see `problem_type`."""
        if labels.shape[0] != logits.shape[0]:
            raise ValueError(f"got {labels.shape[0]} labels for a batch of {logits.shape[0]} examples")
        problem_type = self.problem_type(labels)
        if problem_type == "regression":
            return F.mse_loss(logits.view(-1), labels.to(logits.dtype).view(-1))
        if problem_type == "multi_label_classification":
            if labels.shape != logits.shape:
                raise ValueError(
                    f"multi-label targets must have shape [batch, num_labels] = {tuple(logits.shape)} (one 0/1 "
                    f"column per label), got {tuple(labels.shape)}"
                )
            return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        if labels.numel() != labels.shape[0]:
            raise ValueError(
                f"single-label classification takes one class id per example ([batch]), got labels of shape "
                f"{tuple(labels.shape)}; for 0/1 targets per label set problem_type='multi_label_classification'"
            )
        labels = labels.view(-1).long()
        n_classes = logits.shape[-1]
        if bool(((labels < 0) & (labels != IGNORE_INDEX)).any() or (labels >= n_classes).any()):
            raise ValueError(
                f"labels {labels.tolist()} out of range: {type(self).__name__} predicts {n_classes} "
                f"{'answers' if self.needs_sequence_dim else 'classes'} (valid: 0..{n_classes - 1}, or {IGNORE_INDEX} to ignore)"
            )
        return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)

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
