"""GPT-1 configuration: the paper's architecture and the special tokens of its input transformations."""

from transformers import PreTrainedConfig
from transformers.activations import ACT2FN


# GPT's fine-tuning tokens (paper section 3.3, names of the released code) and a padding token, in vocabulary order:
# the config field holding each id, and the token's text. The one source of these names and of their order.
SPECIAL_TOKENS = {
    "start_token_id": "_start_",
    "delimiter_token_id": "_delimiter_",
    "extract_token_id": "_classify_",
    "pad_token_id": "<pad>",
}
SPECIAL_TOKEN_IDS = tuple(SPECIAL_TOKENS)


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
        n_inner: feed-forward width; `None` means `4 * n_embd`.
        afn: activation of the feed-forward layer (a key of `transformers.activations.ACT2FN`); GPT-1 used the tanh
            approximation of GELU, `"gelu_new"`.
        resid_pdrop, embd_pdrop, attn_pdrop: dropout on residual branches, embeddings and attention probabilities.
        classifier_dropout: dropout before the task heads' linear layer.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: standard deviation of the normal initialisation.
        start_token_id, delimiter_token_id, extract_token_id: ids of `_start_`, `_delimiter_` and `_classify_`.
        pad_token_id: id used for padding. Special ids left as `None` take the last four ids of the vocabulary.
    """

    model_type = "gpt1"
    # Outputs that Trainer's evaluation must not take for predictions.
    keys_to_ignore_at_inference = ["cache", "task_loss", "lm_loss"]
    attribute_map = {
        "hidden_size": "n_embd",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
        "max_position_embeddings": "n_positions",
        "intermediate_size": "n_inner",
    }

    vocab_size: int = 40482
    n_positions: int = 512
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    afn: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    classifier_dropout: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    start_token_id: int | None = None
    delimiter_token_id: int | None = None
    extract_token_id: int | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    tie_word_embeddings: bool = True
    use_cache: bool = True

    def __post_init__(self, **kwargs):
        if self.n_inner is None:
            self.n_inner = 4 * self.n_embd
        if isinstance(self.vocab_size, int) and self.vocab_size >= 4:
            # Unless told otherwise, the special tokens are the last four ids, as in the release (40478..40481).
            for offset, name in enumerate(SPECIAL_TOKEN_IDS):
                if getattr(self, name) is None:
                    setattr(self, name, self.vocab_size - 4 + offset)
        self._check()
        super().__post_init__(**kwargs)

    def _check(self):
        """Reject impossible values early, with the name of the offending field."""
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GPT1Config.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPT1Config.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) "
                "so that every attention head has the same width"
            )
        for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "classifier_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"GPT1Config.{name} is a dropout probability and must lie in [0, 1), got {value!r}")
        if self.afn not in ACT2FN:
            raise ValueError(f"GPT1Config.afn={self.afn!r} is not a known activation; choose one of {sorted(ACT2FN)}")
        if not self.layer_norm_epsilon > 0:
            raise ValueError(f"GPT1Config.layer_norm_epsilon must be positive, got {self.layer_norm_epsilon!r}")
        if not self.initializer_range > 0:
            raise ValueError(f"GPT1Config.initializer_range must be positive, got {self.initializer_range!r}")
        for name in SPECIAL_TOKEN_IDS:
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(
                    f"GPT1Config.{name}={value} lies outside the vocabulary (vocab_size={self.vocab_size})"
                )


__all__ = ["GPT1Config", "SPECIAL_TOKENS", "SPECIAL_TOKEN_IDS"]
