"""GPT-1 configuration: the paper's architecture and the special tokens of its input transformations."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.utils.type_validators import interval


# GPT's fine-tuning tokens (paper section 3.3, names of the released code) and a padding token, in vocabulary order:
# the config field holding each id, and the token's text. The one source of these names and of their order.
SPECIAL_TOKENS = {
    "start_token_id": "_start_",
    "delimiter_token_id": "_delimiter_",
    "extract_token_id": "_classify_",
    "pad_token_id": "<pad>",
}
SPECIAL_TOKEN_IDS = tuple(SPECIAL_TOKENS)


@strict
class GPT1Config(PreTrainedConfig):
    r"""
    Configuration of a GPT-1 model (Radford et al., 2018). The defaults give the released 117M model: 12 post-LayerNorm
    blocks, 768 wide, 12 heads, a 3072-wide tanh-GELU feed-forward, 512 learned positions, dropout 0.1, init N(0, 0.02).

    The vocabulary is the 40,478 BPE entries of the release followed by the three tokens that fine-tuning adds
    (`_start_` 40478, `_delimiter_` 40479, `_classify_` 40480) and a padding token (40481).

    Args:
        vocab_size: number of token embeddings (BPE vocabulary plus special tokens).
        n_positions: context length (number of learned position embeddings).
        n_embd: width of the residual stream.
        n_layer: number of Transformer blocks.
        n_head: number of attention heads; must divide `n_embd`.
        n_inner: feed-forward width; `None` (the default) means `4 * n_embd`, read when a model is built
            (`feed_forward_width`), so a config whose `n_embd` changes later keeps the 4x ratio, as GPT-2's does.
        afn: activation of the feed-forward layer (a key of `transformers.activations.ACT2FN`); GPT-1 used the tanh
            approximation of GELU, `"gelu_new"`.
        resid_pdrop, embd_pdrop, attn_pdrop: dropout on residual branches, embeddings and attention probabilities.
        classifier_dropout: dropout before the task heads' linear layer.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: standard deviation of the normal initialisation.
        start_token_id, delimiter_token_id, extract_token_id: ids of `_start_`, `_delimiter_` and `_classify_`.
        pad_token_id: id used for padding. Special ids left as `None` take the last four ids of the vocabulary.

    Validation runs as in Transformers' own configs (`@strict`): a field's type and range when it is set (also after
    construction), the whole config (`validate()`) at construction, on `save_pretrained` and on loading. Raises
    `huggingface_hub.errors.StrictDataclassFieldValidationError` or `StrictDataclassClassValidationError`, whose
    message names the field.
    """

    model_type = "gpt1"
    # Outputs that Trainer's evaluation must not take for predictions.
    keys_to_ignore_at_inference = ["cache", "task_loss", "lm_loss"]
    attribute_map = {
        "hidden_size": "n_embd",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
        "max_position_embeddings": "n_positions",
    }

    vocab_size: int = interval(min=1)(default=40482)
    n_positions: int = interval(min=1)(default=512)
    n_embd: int = interval(min=1)(default=768)
    n_layer: int = interval(min=1)(default=12)
    n_head: int = interval(min=1)(default=12)
    n_inner: int | None = None
    afn: str = "gelu_new"
    resid_pdrop: float | int = interval(min=0.0, max=1.0, exclude_max=True)(default=0.1)
    embd_pdrop: float | int = interval(min=0.0, max=1.0, exclude_max=True)(default=0.1)
    attn_pdrop: float | int = interval(min=0.0, max=1.0, exclude_max=True)(default=0.1)
    classifier_dropout: float | int = interval(min=0.0, max=1.0, exclude_max=True)(default=0.1)
    # Finite as well as positive (`< inf`): an infinite epsilon or initialisation gives NaN or constant states.
    layer_norm_epsilon: float = interval(min=0.0, max=math.inf, exclude_min=True, exclude_max=True)(default=1e-5)
    initializer_range: float = interval(min=0.0, max=math.inf, exclude_min=True, exclude_max=True)(default=0.02)
    start_token_id: int | None = None
    delimiter_token_id: int | None = None
    extract_token_id: int | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    tie_word_embeddings: bool = True
    use_cache: bool = True

    def __post_init__(self, **kwargs):
        if self.architectures is None:
            # Transformers' Auto classes iterate over it to choose between the two sequence-classification heads.
            self.architectures = []
        if isinstance(self.vocab_size, int) and self.vocab_size >= len(SPECIAL_TOKEN_IDS):
            # Unless told otherwise, the special tokens are the last four ids, as in the release (40478..40481).
            for offset, name in enumerate(SPECIAL_TOKEN_IDS):
                if getattr(self, name) is None:
                    setattr(self, name, self.vocab_size - len(SPECIAL_TOKEN_IDS) + offset)
        super().__post_init__(**kwargs)

    @property
    def feed_forward_width(self) -> int:
        """Width of the feed-forward layer: `n_inner`, or `4 * n_embd` when it is None (3072 for GPT-1, section 4.1)."""
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @property
    def intermediate_size(self) -> int:
        """Transformers' name of the feed-forward width: `feed_forward_width` (never None, as `n_inner` may be);
        setting it sets `n_inner`."""
        return self.feed_forward_width

    @intermediate_size.setter
    def intermediate_size(self, value: int) -> None:
        self.n_inner = value

    def validate_architecture(self):
        """Part of `@strict` validation: sizes that fit together and a known activation."""
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"):
            value = getattr(self, name)
            if name == "n_inner" and value is None:  # 4 * n_embd
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GPT1Config.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPT1Config.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) "
                "so that every attention head has the same width"
            )
        if self.afn not in ACT2FN:
            raise ValueError(f"GPT1Config.afn={self.afn!r} is not a known activation; choose one of {sorted(ACT2FN)}")

    def validate_token_ids(self):
        """Part of `@strict` validation: every special id inside the vocabulary, and GPT's four tokens distinct (the
        heads find the extract token by its id, so a shared id would make them read another token's state)."""
        for name in (*SPECIAL_TOKEN_IDS, "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(
                    f"GPT1Config.{name}={value} lies outside the vocabulary (vocab_size={self.vocab_size}, ids 0.."
                    f"{self.vocab_size - 1}); set it to an id inside the vocabulary or to None"
                )
        ids = {name: getattr(self, name) for name in SPECIAL_TOKEN_IDS if getattr(self, name) is not None}
        for name, value in ids.items():
            shared = [other for other, other_value in ids.items() if other != name and other_value == value]
            if shared:
                raise ValueError(
                    f"GPT1Config.{name}={value} is also {', '.join(shared)}: GPT's special tokens need distinct ids"
                )


__all__ = ["GPT1Config", "SPECIAL_TOKENS", "SPECIAL_TOKEN_IDS"]
